"""Configuration errors on the MongoDB log fail fast with a short message naming the setting to fix
(issue 10, defect 5); transient ones keep the bounded retry.

Before issue 10 a host that does not resolve was retried for the whole ``OMEGA_MONGO_TIMEOUT_SECONDS``
(33 s to fail, with a message of about 700 characters). Each case opens a real ``Memory`` with the
default 30 s timeout, as a user would; the DNS case needs no network (the name fails locally).
"""

from __future__ import annotations

import time

import pytest

from omega_memory_plugin import EventLogError, Memory, Settings
from omega_memory_plugin.testing.servers.ferretdb import free_port

FAST = 10.0  # seconds: far below the 30 s retry budget these errors used to wait out


def open_memory_error(url: str, **settings: float) -> tuple[EventLogError, float]:
    began = time.monotonic()
    with pytest.raises(EventLogError) as info:
        Memory(log_url=url, index_url="memory://", settings=Settings(**settings))  # type: ignore[arg-type]
    return info.value, time.monotonic() - began


def test_a_host_that_does_not_resolve_fails_fast_naming_the_setting() -> None:
    error, seconds = open_memory_error("mongodb://no-such-host.invalid:27017/omega")
    print(f"\n{seconds:.2f} s: {error}")
    assert seconds < FAST
    assert "OMEGA_LOG_URL" in str(error) and "resolve" in str(error)
    assert len(str(error)) < 200


def test_refused_credentials_fail_fast_without_echoing_the_password(mongo_server: str) -> None:
    # FerretDB 1.24 refuses the driver's authentication (code 18, AuthenticationFailed), as a
    # MongoDB server refuses a wrong password.
    url = mongo_server.replace("mongodb://", "mongodb://someone:s3cret-pw@").rstrip("/") + "/omega"
    error, seconds = open_memory_error(url)
    print(f"\n{seconds:.2f} s: {error}")
    assert seconds < FAST
    assert "credentials" in str(error) and "OMEGA_LOG_URL" in str(error)
    assert "s3cret-pw" not in str(error)
    assert len(str(error)) < 200


@pytest.mark.parametrize("url", ["mongodb://localhost:notaport/omega", "mongodb://localhost/omega?w=-5"])
def test_a_malformed_url_fails_at_once(url: str) -> None:
    error, _ = open_memory_error(url)
    assert "OMEGA_LOG_URL" in str(error) and len(str(error)) < 200


def test_an_unreachable_server_is_retried_for_the_timeout_then_reported_briefly() -> None:
    # Nothing listens on the port: transient (a server may be restarting), so it is retried for
    # OMEGA_MONGO_TIMEOUT_SECONDS and then reported without the driver's topology dump.
    error, seconds = open_memory_error(f"mongodb://127.0.0.1:{free_port()}/omega", mongo_timeout_seconds=1.0)
    print(f"\n{seconds:.2f} s: {error}")
    assert "unreachable for 1 s" in str(error) and "OMEGA_LOG_URL" in str(error)
    assert "Topology Description" not in str(error) and len(str(error)) < 300

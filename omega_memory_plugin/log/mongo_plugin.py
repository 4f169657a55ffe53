"""Registers the MongoDB event log for ``mongodb://`` and ``mongodb+srv://`` URLs.

Kept apart from :mod:`.mongo` so that PyMongo, an optional dependency (the ``mongo`` extra), is
imported only by memories whose log is on MongoDB, and so that a missing PyMongo is a typed error
naming the extra.
"""

from __future__ import annotations

from ..extras import require
from ..hookspecs import hookimpl
from ..keys import KeyStore
from ..settings import Settings
from ..urls import scheme
from .base import EventLog


@hookimpl
def omega_memory_event_log(url: str, settings: Settings) -> EventLog | None:
    if scheme(url) not in ("mongodb", "mongodb+srv"):
        return None
    require("pymongo", extra="mongo", needed_by="the MongoDB event log")
    from .mongo import mongo_event_log

    return mongo_event_log(url, settings)


@hookimpl
def omega_memory_key_store(log: EventLog, settings: Settings) -> KeyStore | None:
    import sys

    mongo = sys.modules.get("omega_memory_plugin.log.mongo")  # loaded if the log is a MongoDB one
    if mongo is None or not isinstance(log, mongo.MongoEventLog):
        return None
    from .mongo_keys import MongoKeyStore

    return MongoKeyStore(log.db, log.prefix, log.timeout)

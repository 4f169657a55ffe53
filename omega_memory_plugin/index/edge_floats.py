"""How Qdrant Edge reads back payload floats, and the floats it reads back unchanged.

qdrant-edge-py 0.9 stores a payload float exactly (its shortest JSON text) but parses stored
payloads with serde_json's fast float parser, which is off by one ulp for about 1 in 9 random
floats (937.9228155259179 reads back as 937.922815525918). Every later reader sees the parsed
value: results, the check of a condition on a key without a payload index, and a payload index
built after the point was written, while an index that existed at write time saw the exact value.
So an equality filter on such a float matched nothing, and the same range answered differently
depending on when its key's index was made (indexes are made on first use). Reads return metadata
from payload.METADATA_JSON, exactly. For filters, the copy Edge stores holds each float as the
nearest float that Edge reads back unchanged, and filter bounds are mapped the same way: every
reader then sees one value, and order is kept (the mapping is monotone). The cost: floats a few
ulps apart (one or two below 1e22, up to dozens far beyond) may map to one value and then compare
equal in filters.

Used by :mod:`.edge` for the copy of the metadata its filters see, and for filter bounds.
"""

from __future__ import annotations

import functools
import math
from typing import Any

_POW10 = [float(f"1e{i}") for i in range(309)]  # serde_json's table: each literal correctly rounded
_EXACT_INTEGER = 2**53


def edge_read(value: float) -> float:
    """``value`` as Edge reads it back: serde_json's parse (without ``float_roundtrip``) of the
    text ryu writes. Matched Edge on 360,000 random floats; tests/test_edge_index.py keeps checking."""
    if value == 0.0 or not math.isfinite(value):
        return value
    mantissa_text, _, exponent_text = repr(abs(value)).partition("e")  # repr: the same shortest digits as ryu
    whole, _, fraction = mantissa_text.partition(".")
    significant = (whole + fraction).lstrip("0")
    digits = significant.rstrip("0")
    exponent = (int(exponent_text) if exponent_text else 0) - len(fraction) + len(significant) - len(digits)
    if exponent >= 0 and len(digits) + exponent <= 16:
        # ryu writes such a value as an integer with ".0" ("12340000.0"): the parser reads that zero too.
        mantissa, exponent = int(digits) * 10 ** (exponent + 1), -1
    else:
        mantissa = int(digits)
    if mantissa <= _EXACT_INTEGER and -22 <= exponent <= 22:
        return value  # one correctly rounded operation on exact operands: the parse is exact
    parsed = float(mantissa)
    while exponent < -308 and parsed != 0.0:
        parsed /= 1e308
        exponent += 308
    if parsed != 0.0:
        parsed = parsed * _POW10[exponent] if exponent >= 0 else parsed / _POW10[-exponent]
    return math.copysign(parsed, value)


@functools.lru_cache(maxsize=1 << 16)  # metadata repeats its numbers (scores, years, prices)
def edge_float(value: float) -> float:
    """The float Edge filters compare in place of ``value``: itself if Edge reads it back unchanged,
    else the nearest one that it does (the lower one on a tie, so that the mapping is monotone)."""
    if edge_read(value) == value:
        return value
    down = up = value
    for _ in range(64):
        down = math.nextafter(down, -math.inf)
        if math.isfinite(down) and edge_read(down) == down:
            return down
        up = math.nextafter(up, math.inf)
        if math.isfinite(up) and edge_read(up) == up:
            return up
    return value  # not met in the floats tested; the exact value is then the best guess


def edge_numbers(value: Any) -> Any:
    """``value`` with every float replaced by :func:`edge_float` (integers Edge reads exactly).

    Containers are copied only where something changed: most metadata goes through untouched."""
    kind = type(value)
    if kind is float:
        return edge_float(value)
    if kind is dict:
        changed = None
        for key, item in value.items():
            mapped = edge_numbers(item)
            if mapped is not item:
                changed = changed if changed is not None else dict(value)
                changed[key] = mapped
        return value if changed is None else changed
    if kind is list:
        items = [edge_numbers(item) for item in value]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    return value

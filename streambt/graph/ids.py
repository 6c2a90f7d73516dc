"""Durable identities: sha256 over a canonical encoding.

Python's ``hash()`` is salted per process, so it can name nothing that must
survive a process: column names, cache keys, streaming state. Everything that
needs a durable id goes through :func:`canonical` and :func:`digest`.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any

from ..errors import GraphError


def _normalize(value: Any) -> Any:
    """Turn a parameter value into JSON data with one spelling per meaning."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return {"__float__": repr(value)}
        # 10.0 and 10 mean the same window: one encoding for both.
        return int(value) if value.is_integer() else {"__float__": repr(value)}
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return _normalize(value.item())
    if isinstance(value, Mapping):
        return {str(k): _normalize(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, list | tuple):
        return [_normalize(v) for v in value]
    if hasattr(value, "to_params") and callable(value.to_params):
        return {"__type__": type(value).__name__, **_normalize(value.to_params())}
    raise GraphError(
        f"cannot derive a stable id from a parameter of type {type(value).__name__} ({value!r}); "
        "pass numbers, strings, booleans, lists or dicts of those"
    )


def canonical(value: Any) -> str:
    """The canonical JSON text of ``value``: sorted keys, no whitespace, floats by ``repr``.

    Examples
    --------
    >>> canonical({"window": 10.0, "a": [1, "x"]})
    '{"a":[1,"x"],"window":10}'
    """
    return json.dumps(_normalize(value), sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def digest(value: Any) -> str:
    """Hex sha256 of :func:`canonical` of ``value``."""
    return hashlib.sha256(canonical(value).encode("ascii")).hexdigest()

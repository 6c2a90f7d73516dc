"""The source op: bars of a feed, keyed by symbol and ordered by ts."""

from __future__ import annotations

from .base import Op, OpKind, Param

BAR_FIELDS = ("open", "high", "low", "close", "volume")


def _any(value: object) -> str | None:
    return None


class Data(Op):
    """Bars from one feed. Its outputs are the bar fields, named as they are."""

    kind = OpKind.SOURCE
    short = "data"
    inputs = ()
    outputs = BAR_FIELDS
    params = (Param("feed", _any), Param("timeframe", _any, default=None))

"""Row transforms within a key."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .base import Op, OpKind, Param, positive_int


class Lag(Op):
    """The value ``periods`` bars earlier in the same symbol (null for the first ``periods`` bars).

    Examples
    --------
    >>> prev = cb.add_indicator(sb.ind.lag, data["close"], periods=1)  # doctest: +SKIP
    """

    kind = OpKind.WINDOWED
    short = "lag"
    params = (Param("periods", positive_int, default=1, fix="pass periods >= 1", integer=True),)
    label_params = ("periods",)

    @classmethod
    def lookback(cls, params: Mapping[str, Any]) -> int:
        return int(params["periods"]) + 1

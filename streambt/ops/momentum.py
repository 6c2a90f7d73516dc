"""Momentum oscillators."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .base import Op, OpKind, Param, int_at_least


class RelativeStrengthIndex(Op):
    """Wilder's RSI in [0, 100]; equals TA-Lib's ``RSI`` (first ``window`` values null).

    Examples
    --------
    >>> rsi = cb.add_indicator(sb.ind.rsi, data["close"], window=14)  # doctest: +SKIP
    """

    kind = OpKind.RECURSIVE
    short = "rsi"
    params = (
        Param("window", int_at_least(2), fix="pass window >= 2, e.g. window=14", integer=True),
    )
    label_params = ("window",)

    @classmethod
    def lookback(cls, params: Mapping[str, Any]) -> int:
        return int(params["window"]) + 1

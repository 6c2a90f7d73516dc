"""Volatility measures."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .base import Op, OpKind, Param, int_at_least, positive_number


class StandardDeviation(Op):
    """Population standard deviation of the last ``window`` values times ``nbdev`` (TA-Lib ``STDDEV``).

    Examples
    --------
    >>> sd = cb.add_indicator(sb.ind.stddev, data["close"], window=20)  # doctest: +SKIP
    """

    kind = OpKind.WINDOWED
    short = "stddev"
    params = (
        Param("window", int_at_least(2), fix="pass window >= 2, e.g. window=20", integer=True),
        Param("nbdev", positive_number, default=1.0, fix="pass a positive multiplier such as 1.0"),
    )
    label_params = ("window",)

    @classmethod
    def lookback(cls, params: Mapping[str, Any]) -> int:
        return int(params["window"])

    @classmethod
    def label(cls, params: Mapping[str, Any]) -> str:
        head = super().label(params)
        return (
            head
            if float(params["nbdev"]) == 1.0
            else f"{head}_x{params['nbdev']}".replace(".", "p")
        )

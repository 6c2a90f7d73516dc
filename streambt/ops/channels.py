"""Price channels: the highest high and lowest low of a window."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .base import Op, OpKind, Param, int_at_least


class DonchianChannel(Op):
    """Highest high (``upper``) and lowest low (``lower``) of the last ``window`` bars.

    Equal to ``talib.MAX(high, window)`` and ``talib.MIN(low, window)``; the
    first ``window - 1`` bars are null. Like TA-Lib's MAX/MIN, ``window`` is at
    least 2.

    Examples
    --------
    >>> dc = cb.add_indicator(sb.ind.donchian, data, window=20)  # doctest: +SKIP
    >>> breakout = res.values(dc["upper"])  # doctest: +SKIP
    """

    kind = OpKind.WINDOWED
    short = "donchian"
    inputs = ()
    data_fields = ("high", "low")
    outputs = ("upper", "lower")
    params = (
        Param("window", int_at_least(2), fix="pass window >= 2, e.g. window=20", integer=True),
    )
    label_params = ("window",)

    @classmethod
    def lookback(cls, params: Mapping[str, Any]) -> int:
        return int(params["window"])

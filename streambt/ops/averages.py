"""Moving averages."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .base import Op, OpKind, window_param


class SimpleMovingAverage(Op):
    """Arithmetic mean of the last ``window`` values; equals TA-Lib's ``SMA``.

    Examples
    --------
    >>> fast = cb.add_indicator(sb.ind.sma, data["close"], window=10)  # doctest: +SKIP
    """

    kind = OpKind.WINDOWED
    short = "sma"
    params = (window_param(),)
    label_params = ("window",)

    @classmethod
    def lookback(cls, params: Mapping[str, Any]) -> int:
        return int(params["window"])


class ExponentialMovingAverage(Op):
    """EMA with ``k = 2 / (window + 1)``, seeded by the SMA of the first ``window`` values (TA-Lib ``EMA``).

    Examples
    --------
    >>> ema = cb.add_indicator(sb.ind.ema, data["close"], window=20)  # doctest: +SKIP
    """

    kind = OpKind.RECURSIVE
    short = "ema"
    params = (window_param(),)
    label_params = ("window",)

    @classmethod
    def lookback(cls, params: Mapping[str, Any]) -> int:
        return int(params["window"])

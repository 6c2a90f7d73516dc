"""Volatility measures: standard deviation, true range, ATR, NATR, Bollinger Bands."""

from __future__ import annotations

import math
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


def _period(minimum: int, default: int) -> Param:
    return Param(
        "window",
        int_at_least(minimum),
        default=default,
        fix=f"pass window >= {minimum} (TA-Lib's minimum), e.g. window={default}",
        integer=True,
    )


def _finite_number(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return "must be a finite number"
    return None


class TrueRange(Op):
    """True range: ``max(high - low, |prev close - high|, |prev close - low|)`` (TA-Lib ``TRANGE``).

    The first bar has no previous close and is null.

    Examples
    --------
    >>> tr = cb.add_indicator(sb.ind.trange, data)  # doctest: +SKIP
    """

    kind = OpKind.WINDOWED
    short = "trange"
    inputs = ()
    data_fields = ("high", "low", "close")

    @classmethod
    def lookback(cls, params: Mapping[str, Any]) -> int:
        return 2


class AverageTrueRange(Op):
    """Wilder's average of the true range (TA-Lib ``ATR``); the first ``window`` bars are null.

    Seeded with the mean of the first ``window`` true ranges, then smoothed
    with ``k = (window - 1) / window`` as the installed TA-Lib does it.

    Examples
    --------
    >>> atr = cb.add_indicator(sb.ind.atr, data, window=14)  # doctest: +SKIP
    """

    kind = OpKind.RECURSIVE
    short = "atr"
    inputs = ()
    data_fields = ("high", "low", "close")
    params = (_period(1, 14),)
    label_params = ("window",)

    @classmethod
    def lookback(cls, params: Mapping[str, Any]) -> int:
        return int(params["window"]) + 1


class NormalizedAverageTrueRange(Op):
    """ATR as a percentage of the close, ``100 * atr / close`` (TA-Lib ``NATR``).

    The first ``window`` bars are null. As in TA-Lib, ``window=1`` gives the
    true range itself (not divided by the close).

    Examples
    --------
    >>> natr = cb.add_indicator(sb.ind.natr, data, window=14)  # doctest: +SKIP
    """

    kind = OpKind.RECURSIVE
    short = "natr"
    inputs = ()
    data_fields = ("high", "low", "close")
    params = (_period(1, 14),)
    label_params = ("window",)

    @classmethod
    def lookback(cls, params: Mapping[str, Any]) -> int:
        return int(params["window"]) + 1


class BollingerBands(Op):
    """Bollinger Bands: SMA middle band +- ``nbdev`` population standard deviations (TA-Lib ``BBANDS``).

    Outputs ``upper``, ``middle``, ``lower``; TA-Lib's ``nbdevup`` and
    ``nbdevdn`` are both ``nbdev`` and its moving average is the SMA. The
    first ``window - 1`` bars are null. The default window is TA-Lib's (20).

    Examples
    --------
    >>> bb = cb.add_indicator(sb.ind.bbands, data["close"], window=20, nbdev=2.0)  # doctest: +SKIP
    >>> res.values(bb["upper"])  # doctest: +SKIP
    """

    kind = OpKind.WINDOWED
    short = "bbands"
    outputs = ("upper", "middle", "lower")
    params = (
        _period(2, 20),
        Param("nbdev", _finite_number, default=2.0, fix="pass a number such as nbdev=2.0"),
    )
    label_params = ("window", "nbdev")

    @classmethod
    def lookback(cls, params: Mapping[str, Any]) -> int:
        return int(params["window"])

"""Momentum oscillators."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .base import Op, OpKind, Param, int_at_least, window_param


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


class MovingAverageConvergenceDivergence(Op):
    """MACD: fast EMA minus slow EMA, its EMA (the signal) and their difference (TA-Lib ``MACD``).

    Outputs ``macd``, ``signal`` and ``hist`` (``macd - signal``); index the
    ref by output name. The first ``slow + signal - 2`` rows are null. Like
    TA-Lib, a ``slow`` shorter than ``fast`` is swapped with it.

    Examples
    --------
    >>> macd = cb.add_indicator(sb.ind.macd, data["close"], fast=12, slow=26, signal=9)  # doctest: +SKIP
    >>> res.values(macd["signal"])  # doctest: +SKIP
    """

    kind = OpKind.RECURSIVE
    short = "macd"
    outputs = ("macd", "signal", "hist")
    params = (
        Param(
            "fast", int_at_least(2), default=12, fix="pass fast >= 2, e.g. fast=12", integer=True
        ),
        Param(
            "slow", int_at_least(2), default=26, fix="pass slow >= 2, e.g. slow=26", integer=True
        ),
        Param(
            "signal",
            int_at_least(1),
            default=9,
            fix="pass signal >= 1, e.g. signal=9",
            integer=True,
        ),
    )
    label_params = ("fast", "slow", "signal")

    @classmethod
    def lookback(cls, params: Mapping[str, Any]) -> int:
        return max(int(params["fast"]), int(params["slow"])) + int(params["signal"]) - 1


class RateOfChange(Op):
    """Percent change over ``window`` bars, ``(x[t] / x[t-N] - 1) * 100`` (TA-Lib ``ROC``).

    The first ``window`` rows are null; where ``x[t-N]`` is 0 the value is 0,
    as in TA-Lib.

    Examples
    --------
    >>> roc = cb.add_indicator(sb.ind.roc, data["close"], window=10)  # doctest: +SKIP
    """

    kind = OpKind.WINDOWED
    short = "roc"
    params = (window_param("pass window >= 1, e.g. window=10"),)
    label_params = ("window",)

    @classmethod
    def lookback(cls, params: Mapping[str, Any]) -> int:
        return int(params["window"]) + 1


class Momentum(Op):
    """Change over ``window`` bars, ``x[t] - x[t-N]`` (TA-Lib ``MOM``); the first ``window`` rows are null.

    Examples
    --------
    >>> mom = cb.add_indicator(sb.ind.mom, data["close"], window=10)  # doctest: +SKIP
    """

    kind = OpKind.WINDOWED
    short = "mom"
    params = (window_param("pass window >= 1, e.g. window=10"),)
    label_params = ("window",)

    @classmethod
    def lookback(cls, params: Mapping[str, Any]) -> int:
        return int(params["window"]) + 1

"""Oscillators: CCI, Williams %R, stochastics, stochastic RSI, Aroon, money flow index."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .base import Op, OpKind, Param, int_at_least

_HLC = ("high", "low", "close")


def _period(name: str, minimum: int, default: int) -> Param:
    return Param(
        name,
        int_at_least(minimum),
        default=default,
        fix=f"pass {name} >= {minimum} (TA-Lib's minimum), e.g. {name}={default}",
        integer=True,
    )


class CommodityChannelIndex(Op):
    """Commodity Channel Index (TA-Lib ``CCI``); the first ``window - 1`` bars are null.

    ``(tp - mean) / (0.015 * mean deviation)`` of the typical price
    ``(high + low + close) / 3`` over ``window`` bars.

    Examples
    --------
    >>> cci = cb.add_indicator(sb.ind.cci, data, window=14)  # doctest: +SKIP
    """

    kind = OpKind.WINDOWED
    short = "cci"
    inputs = ()
    data_fields = _HLC
    params = (_period("window", 2, 14),)
    label_params = ("window",)

    @classmethod
    def lookback(cls, params: Mapping[str, Any]) -> int:
        return int(params["window"])


class WilliamsR(Op):
    """Williams %R in [-100, 0] over ``window`` bars (TA-Lib ``WILLR``); the first ``window - 1`` are null.

    ``-100 * (highest high - close) / (highest high - lowest low)``, 0 on a
    flat window.

    Examples
    --------
    >>> wr = cb.add_indicator(sb.ind.willr, data, window=14)  # doctest: +SKIP
    """

    kind = OpKind.WINDOWED
    short = "willr"
    inputs = ()
    data_fields = _HLC
    params = (_period("window", 2, 14),)
    label_params = ("window",)

    @classmethod
    def lookback(cls, params: Mapping[str, Any]) -> int:
        return int(params["window"])


class Stochastic(Op):
    """Slow stochastic %K and %D (TA-Lib ``STOCH`` with SMA smoothing); outputs ``k`` and ``d``.

    Fast %K over ``fastk`` bars, ``k`` its ``slowk``-bar SMA, ``d`` the
    ``slowd``-bar SMA of ``k``. Both are null for the first
    ``fastk + slowk + slowd - 3`` bars.

    Examples
    --------
    >>> st = cb.add_indicator(sb.ind.stoch, data, fastk=5, slowk=3, slowd=3)  # doctest: +SKIP
    >>> res.values(st["d"])  # doctest: +SKIP
    """

    kind = OpKind.WINDOWED
    short = "stoch"
    inputs = ()
    data_fields = _HLC
    outputs = ("k", "d")
    params = (_period("fastk", 1, 5), _period("slowk", 1, 3), _period("slowd", 1, 3))
    label_params = ("fastk", "slowk", "slowd")

    @classmethod
    def lookback(cls, params: Mapping[str, Any]) -> int:
        return int(params["fastk"]) + int(params["slowk"]) + int(params["slowd"]) - 2


class StochasticRSI(Op):
    """Stochastic of the RSI (TA-Lib ``STOCHRSI`` with SMA smoothing); outputs ``k`` and ``d``.

    ``k`` is the fast %K of ``RSI(x, window)`` over ``fastk`` values, ``d``
    its ``fastd``-bar SMA. Both are null for the first
    ``window + fastk + fastd - 2`` values after the input's first number.

    Examples
    --------
    >>> srsi = cb.add_indicator(sb.ind.stochrsi, data["close"], window=14)  # doctest: +SKIP
    """

    kind = OpKind.RECURSIVE
    short = "stochrsi"
    outputs = ("k", "d")
    params = (_period("window", 2, 14), _period("fastk", 1, 5), _period("fastd", 1, 3))
    label_params = ("window", "fastk", "fastd")

    @classmethod
    def lookback(cls, params: Mapping[str, Any]) -> int:
        return int(params["window"]) + int(params["fastk"]) + int(params["fastd"]) - 1


class Aroon(Op):
    """Aroon up and down (TA-Lib ``AROON``); outputs ``up`` and ``down``, null for ``window`` bars.

    ``up = 100 * (window - bars since the highest high) / window`` over the
    last ``window + 1`` bars (a tie counts the latest bar); ``down`` likewise
    with the lowest low.

    Examples
    --------
    >>> ar = cb.add_indicator(sb.ind.aroon, data, window=14)  # doctest: +SKIP
    >>> res.values(ar["up"])  # doctest: +SKIP
    """

    kind = OpKind.WINDOWED
    short = "aroon"
    inputs = ()
    data_fields = ("high", "low")
    outputs = ("up", "down")
    params = (_period("window", 2, 14),)
    label_params = ("window",)

    @classmethod
    def lookback(cls, params: Mapping[str, Any]) -> int:
        return int(params["window"]) + 1


class MoneyFlowIndex(Op):
    """Money Flow Index in [0, 100] over ``window`` bars (TA-Lib ``MFI``); the first ``window`` are null.

    ``100 * positive flow / total flow``, with flow ``volume * tp`` signed by
    the change of the typical price ``(high + low + close) / 3``.

    Examples
    --------
    >>> mfi = cb.add_indicator(sb.ind.mfi, data, window=14)  # doctest: +SKIP
    """

    kind = OpKind.WINDOWED
    short = "mfi"
    inputs = ()
    data_fields = ("high", "low", "close", "volume")
    params = (_period("window", 2, 14),)
    label_params = ("window",)

    @classmethod
    def lookback(cls, params: Mapping[str, Any]) -> int:
        return int(params["window"]) + 1

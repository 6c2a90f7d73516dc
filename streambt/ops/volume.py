"""Volume indicators: on-balance volume, accumulation/distribution, Chaikin, VWAP."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .base import Op, OpKind, Param, int_at_least, window_param

_PERIOD_FIX = "pass an integer >= 2 (TA-Lib's minimum), e.g. fast=3, slow=10"


class OnBalanceVolume(Op):
    """Running volume, added on up closes and subtracted on down closes (TA-Lib ``OBV``).

    The first value is the first bar's volume; a bar whose close equals the
    previous close leaves the total unchanged.

    Examples
    --------
    >>> obv = cb.add_indicator(sb.ind.obv, data)  # doctest: +SKIP
    """

    kind = OpKind.RECURSIVE
    short = "obv"
    inputs = ()
    data_fields = ("close", "volume")


class AccumulationDistribution(Op):
    """Chaikin's accumulation/distribution line (TA-Lib ``AD``).

    Adds ``((close - low) - (high - close)) / (high - low) * volume`` each bar,
    nothing on a bar with ``high == low``.

    Examples
    --------
    >>> ad = cb.add_indicator(sb.ind.ad, data)  # doctest: +SKIP
    """

    kind = OpKind.RECURSIVE
    short = "ad"
    inputs = ()
    data_fields = ("high", "low", "close", "volume")


class ChaikinOscillator(Op):
    """EMA(``fast``) minus EMA(``slow``) of the A/D line (TA-Lib ``ADOSC``).

    Both averages are seeded with the first A/D value (not an SMA), so the
    first ``max(fast, slow) - 1`` rows are null. TA-Lib accepts ``fast > slow``
    and so does this op: the value is still EMA(fast) - EMA(slow).

    Examples
    --------
    >>> osc = cb.add_indicator(sb.ind.adosc, data, fast=3, slow=10)  # doctest: +SKIP
    """

    kind = OpKind.RECURSIVE
    short = "adosc"
    inputs = ()
    data_fields = ("high", "low", "close", "volume")
    params = (
        Param("fast", int_at_least(2), default=3, fix=_PERIOD_FIX, integer=True),
        Param("slow", int_at_least(2), default=10, fix=_PERIOD_FIX, integer=True),
    )
    label_params = ("fast", "slow")

    @classmethod
    def lookback(cls, params: Mapping[str, Any]) -> int:
        return max(int(params["fast"]), int(params["slow"]))


class VolumeWeightedAveragePrice(Op):
    """Volume-weighted typical price over the last ``window`` bars.

    ``sum(tp * volume) / sum(volume)`` with ``tp = (high + low + close) / 3``.
    Null during the warm-up (the first ``window - 1`` bars), while a null
    volume is inside the window, and when every volume in the window is 0
    (the volume sum is 0; feeds reject negative volume).

    Examples
    --------
    >>> vwap = cb.add_indicator(sb.ind.vwap, data, window=20)  # doctest: +SKIP
    """

    kind = OpKind.WINDOWED
    short = "vwap"
    inputs = ()
    data_fields = ("high", "low", "close", "volume")
    params = (window_param("pass window >= 1, e.g. window=20"),)
    label_params = ("window",)

    @classmethod
    def lookback(cls, params: Mapping[str, Any]) -> int:
        return int(params["window"])

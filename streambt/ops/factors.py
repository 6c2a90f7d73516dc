"""The user's factors: range, trendiness, returns, log returns and rolling z-score.

Definitions, null rules and edge cases are written down in ``docs/factors.md``.
The slope of the best-fit line over N bars is TA-Lib's ``LINEARREG_SLOPE``,
available as ``sb.ind.linearreg_slope``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .base import Op, OpKind, Param, int_at_least, positive_int, window_param


class PriceRange(Op):
    """``max(high) - min(low)`` over the last ``window`` bars (any ``window >= 1``).

    Equal to ``talib.MAX(high, window) - talib.MIN(low, window)``; with
    ``window=1`` it is the bar's own ``high - low``. The first ``window - 1``
    bars are null.

    Examples
    --------
    >>> r20 = cb.add_indicator(sb.ind.range, data, window=20)  # doctest: +SKIP
    """

    kind = OpKind.WINDOWED
    short = "range"
    inputs = ()
    data_fields = ("high", "low")
    params = (window_param("pass window >= 1, e.g. window=20"),)
    label_params = ("window",)

    @classmethod
    def lookback(cls, params: Mapping[str, Any]) -> int:
        return int(params["window"])


class EfficiencyRatio(Op):
    """Trendiness: net move over path length across ``window`` bars, in [0, 1].

    ``|x[t] - x[t-N]| / sum(|x[i] - x[i-1]|, i = t-N+1 .. t)``. Null for the
    first ``window`` rows and while a null is among ``x[t-N] .. x[t]``; 0.0
    when the path length is 0 (``x`` flat over the window: no trend).

    Examples
    --------
    >>> er = cb.add_indicator(sb.ind.trendiness, data["close"], window=20)  # doctest: +SKIP
    """

    kind = OpKind.WINDOWED
    short = "trendiness"
    params = (window_param("pass window >= 1, e.g. window=20"),)
    label_params = ("window",)

    @classmethod
    def lookback(cls, params: Mapping[str, Any]) -> int:
        return int(params["window"]) + 1


class Returns(Op):
    """Simple return over ``window`` bars: ``x[t] / x[t-N] - 1``.

    Null for the first ``window`` rows, when either value is null, and when
    ``x[t-N] == 0`` (where TA-Lib's ``ROCR`` would return 0).

    Examples
    --------
    >>> ret = cb.add_indicator(sb.ind.returns, data["close"])  # doctest: +SKIP
    >>> ret5 = cb.add_indicator(sb.ind.returns, data["close"], window=5)  # doctest: +SKIP
    """

    kind = OpKind.WINDOWED
    short = "returns"
    params = (
        Param(
            "window", positive_int, default=1, fix="pass window >= 1, e.g. window=1", integer=True
        ),
    )
    label_params = ("window",)

    @classmethod
    def lookback(cls, params: Mapping[str, Any]) -> int:
        return int(params["window"]) + 1


class LogReturns(Op):
    """Log return over ``window`` bars: ``ln(x[t] / x[t-N])``.

    Null for the first ``window`` rows, when either value is null, and when
    the ratio is not positive (``x[t-N] == 0`` or a sign change), where the
    logarithm is undefined.

    Examples
    --------
    >>> lr = cb.add_indicator(sb.ind.log_returns, data["close"], window=1)  # doctest: +SKIP
    """

    kind = OpKind.WINDOWED
    short = "log_returns"
    params = (
        Param(
            "window", positive_int, default=1, fix="pass window >= 1, e.g. window=1", integer=True
        ),
    )
    label_params = ("window",)

    @classmethod
    def lookback(cls, params: Mapping[str, Any]) -> int:
        return int(params["window"]) + 1


class RollingZScore(Op):
    """``(x - mean) / std`` over the last ``window`` values, population std.

    Null for the first ``window - 1`` rows, while a null is in the window, and
    when the ``window`` values are all equal (std 0: no scale to measure by).

    Examples
    --------
    >>> z = cb.add_indicator(sb.ind.zscore, data["close"], window=20)  # doctest: +SKIP
    """

    kind = OpKind.WINDOWED
    short = "zscore"
    params = (
        Param("window", int_at_least(2), fix="pass window >= 2, e.g. window=20", integer=True),
    )
    label_params = ("window",)

    @classmethod
    def lookback(cls, params: Mapping[str, Any]) -> int:
        return int(params["window"])

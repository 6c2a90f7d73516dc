"""Rolling statistics of one series."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .base import Op, OpKind, Param, int_at_least


class LinearRegressionSlope(Op):
    """Slope of the least-squares line through the last ``window`` values, per bar (TA-Lib ``LINEARREG_SLOPE``).

    The first ``window - 1`` rows are null. TA-Lib slides the two sums of the
    fit from row to row (rebuilding them every ``32 * window`` rows and when
    an outlier leaves the window), and the slope is a difference of two large
    products: the sums' rounding survives in it (twenty equal closes near 50
    give slopes of -1e-11, not 0), and on ordinary prices the value depends on
    the summation schedule to ~1e-8 relative. No SQL window form can match
    that to 1e-9, so this op always runs as a kernel, which follows TA-Lib's
    schedule and gives its bits.

    Examples
    --------
    >>> slope = cb.add_indicator(sb.ind.linearreg_slope, data["close"], window=14)  # doctest: +SKIP
    """

    kind = OpKind.WINDOWED
    short = "linearreg_slope"
    params = (
        Param("window", int_at_least(2), fix="pass window >= 2, e.g. window=14", integer=True),
    )
    label_params = ("window",)

    @classmethod
    def lookback(cls, params: Mapping[str, Any]) -> int:
        return int(params["window"])

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


class WeightedMovingAverage(Op):
    """Linearly weighted mean of the last ``window`` values (weights 1 .. window, newest heaviest); TA-Lib ``WMA``.

    The first ``window - 1`` rows are null; ``window=1`` returns the input.

    Examples
    --------
    >>> wma = cb.add_indicator(sb.ind.wma, data["close"], window=30)  # doctest: +SKIP
    """

    kind = OpKind.WINDOWED
    short = "wma"
    params = (window_param("pass window >= 1, e.g. window=30"),)
    label_params = ("window",)

    @classmethod
    def lookback(cls, params: Mapping[str, Any]) -> int:
        return int(params["window"])


class DoubleExponentialMovingAverage(Op):
    """Mulloy's DEMA, ``2 * EMA - EMA(EMA)``, both EMAs seeded like TA-Lib's (TA-Lib ``DEMA``).

    The first ``2 * (window - 1)`` rows are null; ``window=1`` returns the input.

    Examples
    --------
    >>> dema = cb.add_indicator(sb.ind.dema, data["close"], window=30)  # doctest: +SKIP
    """

    kind = OpKind.RECURSIVE
    short = "dema"
    params = (window_param("pass window >= 1, e.g. window=30"),)
    label_params = ("window",)

    @classmethod
    def lookback(cls, params: Mapping[str, Any]) -> int:
        return 2 * (int(params["window"]) - 1) + 1


class TripleExponentialMovingAverage(Op):
    """Mulloy's TEMA, ``3 * EMA - 3 * EMA(EMA) + EMA(EMA(EMA))`` (TA-Lib ``TEMA``).

    The first ``3 * (window - 1)`` rows are null; ``window=1`` returns the input.

    Examples
    --------
    >>> tema = cb.add_indicator(sb.ind.tema, data["close"], window=30)  # doctest: +SKIP
    """

    kind = OpKind.RECURSIVE
    short = "tema"
    params = (window_param("pass window >= 1, e.g. window=30"),)
    label_params = ("window",)

    @classmethod
    def lookback(cls, params: Mapping[str, Any]) -> int:
        return 3 * (int(params["window"]) - 1) + 1


class TriangularMovingAverage(Op):
    """Triangular moving average, an SMA of an SMA (TA-Lib ``TRIMA``).

    Weights rise linearly to the middle of the window and fall again, e.g.
    ``(1, 2, 3, 2, 1) / 9`` for ``window=5``. The first ``window - 1`` rows
    are null; ``window=1`` returns the input.

    TA-Lib carries the weighted sum from row to row without ever rebuilding
    it, so its value also holds the rounding of the whole history (up to
    ~1e-8 relative after a million rows); this op reproduces those bits,
    which no SQL window form can, so it always runs as a kernel.

    Examples
    --------
    >>> trima = cb.add_indicator(sb.ind.trima, data["close"], window=30)  # doctest: +SKIP
    """

    kind = OpKind.WINDOWED
    short = "trima"
    params = (window_param("pass window >= 1, e.g. window=30"),)
    label_params = ("window",)

    @classmethod
    def lookback(cls, params: Mapping[str, Any]) -> int:
        return int(params["window"])


class KaufmanAdaptiveMovingAverage(Op):
    """Kaufman's adaptive moving average (TA-Lib ``KAMA``).

    An EMA whose factor is ``(er * (2/3 - 2/31) + 2/31) ** 2``, ``er`` the
    efficiency ratio (net change over path length) of the last ``window``
    bars: between the squared factors of a 30- and a 2-bar EMA. The first
    ``window`` rows are null; ``window=1`` returns the input.

    Examples
    --------
    >>> kama = cb.add_indicator(sb.ind.kama, data["close"], window=30)  # doctest: +SKIP
    """

    kind = OpKind.RECURSIVE
    short = "kama"
    params = (window_param("pass window >= 1, e.g. window=30"),)
    label_params = ("window",)

    @classmethod
    def lookback(cls, params: Mapping[str, Any]) -> int:
        n = int(params["window"])
        return 1 if n == 1 else n + 1

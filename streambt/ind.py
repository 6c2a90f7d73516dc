"""Indicators, by their short names: ``cb.add_indicator(sb.ind.sma, data["close"], window=10)``."""

from .ops.averages import DoubleExponentialMovingAverage as dema
from .ops.averages import ExponentialMovingAverage as ema
from .ops.averages import KaufmanAdaptiveMovingAverage as kama
from .ops.averages import SimpleMovingAverage as sma
from .ops.averages import TriangularMovingAverage as trima
from .ops.averages import TripleExponentialMovingAverage as tema
from .ops.averages import WeightedMovingAverage as wma
from .ops.momentum import Momentum as mom
from .ops.momentum import MovingAverageConvergenceDivergence as macd
from .ops.momentum import RateOfChange as roc
from .ops.momentum import RelativeStrengthIndex as rsi
from .ops.statistics import LinearRegressionSlope as linearreg_slope
from .ops.talib_functions import talib
from .ops.transforms import Lag as lag
from .ops.user import recursive_indicator, window_indicator
from .ops.volatility import StandardDeviation as stddev

__all__ = [
    "dema",
    "ema",
    "kama",
    "lag",
    "linearreg_slope",
    "macd",
    "mom",
    "recursive_indicator",
    "roc",
    "rsi",
    "sma",
    "stddev",
    "talib",
    "tema",
    "trima",
    "window_indicator",
    "wma",
]

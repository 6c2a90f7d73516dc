"""Indicators, by their short names: ``cb.add_indicator(sb.ind.sma, data["close"], window=10)``."""

from .ops.averages import ExponentialMovingAverage as ema
from .ops.averages import SimpleMovingAverage as sma
from .ops.momentum import RelativeStrengthIndex as rsi
from .ops.transforms import Lag as lag
from .ops.volatility import StandardDeviation as stddev

__all__ = ["ema", "lag", "rsi", "sma", "stddev"]

"""Indicators, by their short names: ``cb.add_indicator(sb.ind.sma, data["close"], window=10)``."""

from .ops.averages import DoubleExponentialMovingAverage as dema
from .ops.averages import ExponentialMovingAverage as ema
from .ops.averages import KaufmanAdaptiveMovingAverage as kama
from .ops.averages import SimpleMovingAverage as sma
from .ops.averages import TriangularMovingAverage as trima
from .ops.averages import TripleExponentialMovingAverage as tema
from .ops.averages import WeightedMovingAverage as wma
from .ops.channels import DonchianChannel as donchian
from .ops.factors import EfficiencyRatio as trendiness
from .ops.factors import LogReturns as log_returns
from .ops.factors import PriceRange as range
from .ops.factors import Returns as returns
from .ops.factors import RollingZScore as zscore
from .ops.momentum import Momentum as mom
from .ops.momentum import MovingAverageConvergenceDivergence as macd
from .ops.momentum import RateOfChange as roc
from .ops.momentum import RelativeStrengthIndex as rsi
from .ops.oscillators import Aroon as aroon
from .ops.oscillators import CommodityChannelIndex as cci
from .ops.oscillators import MoneyFlowIndex as mfi
from .ops.oscillators import Stochastic as stoch
from .ops.oscillators import StochasticRSI as stochrsi
from .ops.oscillators import WilliamsR as willr
from .ops.statistics import LinearRegressionSlope as linearreg_slope
from .ops.talib_functions import talib
from .ops.transforms import Lag as lag
from .ops.trend import AverageDirectionalIndex as adx
from .ops.trend import MinusDirectionalIndicator as minus_di
from .ops.trend import ParabolicSAR as sar
from .ops.trend import PlusDirectionalIndicator as plus_di
from .ops.user import recursive_indicator, window_indicator
from .ops.volatility import AverageTrueRange as atr
from .ops.volatility import BollingerBands as bbands
from .ops.volatility import NormalizedAverageTrueRange as natr
from .ops.volatility import StandardDeviation as stddev
from .ops.volatility import TrueRange as trange
from .ops.volume import AccumulationDistribution as ad
from .ops.volume import ChaikinOscillator as adosc
from .ops.volume import OnBalanceVolume as obv
from .ops.volume import VolumeWeightedAveragePrice as vwap

__all__ = [
    "ad",
    "adosc",
    "adx",
    "aroon",
    "atr",
    "bbands",
    "cci",
    "dema",
    "donchian",
    "ema",
    "kama",
    "lag",
    "linearreg_slope",
    "log_returns",
    "macd",
    "mfi",
    "minus_di",
    "mom",
    "natr",
    "obv",
    "plus_di",
    "range",
    "recursive_indicator",
    "returns",
    "roc",
    "rsi",
    "sar",
    "sma",
    "stddev",
    "stoch",
    "stochrsi",
    "talib",
    "tema",
    "trange",
    "trendiness",
    "trima",
    "vwap",
    "willr",
    "window_indicator",
    "wma",
    "zscore",
]

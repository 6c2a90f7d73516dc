"""streambt: one strategy graph, backtested on DuckDB, run on Spark and Flink, with the same numbers.

Examples
--------
>>> import streambt as sb
>>> cb = sb.Cerebro(cash=10_000, commission=0.001)
>>> data = cb.add_data(sb.feeds.synthetic("DEMO", bars=250))
>>> fast = cb.add_indicator(sb.ind.sma, data["close"], window=10)
"""

from . import alloc, feeds, ind, sig
from .cerebro import Cerebro
from .errors import (
    BackendError,
    DataError,
    GraphError,
    InvalidInputError,
    InvalidParameterError,
    ManifestError,
    StreambtError,
    UnsupportedError,
)
from .graph import Ref
from .graph.params import param
from .result import Result
from .sim import fees, sizers, slippage
from .sim.instruments import Instrument
from .sim.strategy import Strategy

__version__ = "0.1.0"

__all__ = [
    "BackendError",
    "Cerebro",
    "DataError",
    "GraphError",
    "Instrument",
    "InvalidInputError",
    "InvalidParameterError",
    "ManifestError",
    "Ref",
    "Result",
    "Strategy",
    "StreambtError",
    "UnsupportedError",
    "__version__",
    "alloc",
    "feeds",
    "fees",
    "ind",
    "param",
    "sig",
    "sizers",
    "slippage",
]

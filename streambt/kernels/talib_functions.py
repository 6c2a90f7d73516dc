"""The kernel of every TA-Lib function node, and when its streaming form is exact.

Batch is one call of the ``talib`` function on the whole series of a key, so
it equals calling TA-Lib directly. Streaming cannot keep TA-Lib's own state
(``talib.stream`` objects cannot be pickled, and its functions recompute from
the array they are given), so the kernel keeps the last ``L + U`` input rows
(``L`` = TA-Lib's lookback for the node's parameters, ``U`` = extra rows), and
on each step calls TA-Lib on those rows followed by the new ones, keeping the
outputs of the new rows.

Whether that equals the batch result depends on the function; each TA-Lib
function belongs to one streaming class (:data:`STREAMING`, with the reason):

``exact``
    the output of a row is computed from the last ``L + 1`` rows with nothing
    carried from row to row: bit for bit equal with ``U = 0``.
``window``
    mathematically a function of the last ``L + 1`` rows, but TA-Lib carries
    running sums from row to row (SMA, WMA, STDDEV, LINEARREG, ...); a
    restart rounds differently: equal up to that rounding.
``recursive``
    infinite memory that decays geometrically (EMA, Wilder smoothing, Hilbert
    transform): the buffered error shrinks like ``(1 - k) ** U``; ``U``
    defaults to ``50 * max(L, 2)`` rows (``100 *`` for the adaptive KAMA/MAMA).
``path``
    TA-Lib flags the function path-dependent (OBV, AD, SAR, CUMSUM, VWAP, ...):
    no bounded history reproduces it, so the kernel keeps the whole history
    (exact, memory grows with the stream) unless ``stream_unstable`` is given.

``docs/talib.md`` states the measured tolerances; the tests check every claim
for every function.
"""

from __future__ import annotations

import enum
import importlib
import threading
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from ..errors import BackendError
from .base import Columns, Kernel, State, scalar

__all__ = [
    "MA_TYPE_CLASS",
    "STREAMING",
    "StreamClass",
    "TALibKernel",
    "default_unstable",
    "kernel_class",
    "stream_class",
]


class StreamClass(enum.IntEnum):
    """How a TA-Lib function behaves under buffered streaming; higher needs more history."""

    EXACT = 0
    WINDOW = 1
    RECURSIVE = 2
    PATH = 3


E, W, R, P = StreamClass.EXACT, StreamClass.WINDOW, StreamClass.RECURSIVE, StreamClass.PATH

_ELEMENTWISE = "elementwise: each row from that row's inputs"
_EXTREMUM = "max/min/percentile over the window, found afresh for each row"
_INDEX = (
    "index of the window's max/min: TA-Lib's tie-breaking carries state, which "
    "resynchronizes within lookback + 1 rows, so U = lookback + 1"
)
_LAGGED = "compares values a fixed number of rows apart"
_NO_CARRY = "a function of the window with nothing carried from row to row"
_CANDLE = (
    "candlestick pattern comparing the last bars with each other: no candle averages "
    "(its lookback does not depend on TA-Lib's candle settings)"
)
_SUMS = "a function of the window, but TA-Lib carries running sums from row to row"
_CANDLE_SUMS = (
    "candlestick pattern comparing bars with averages over the last 5-10 bars (TA-Lib's "
    "candle settings), which TA-Lib carries as running totals; the output is an integer, so "
    "their rounding matters only where a bar ties a threshold within it"
)
_UNSTABLE = "TA-Lib flag 'unstable period': recursive smoothing"
_EMA = "built on EMA or Wilder smoothing: infinite, geometrically decaying memory"
_HILBERT = "TA-Lib flag 'unstable period': Hilbert transform with recursive smoothing"
_PATH = "TA-Lib flag 'path-dependent': depends on the whole history"
_MATYPE = "its averages are chosen by matype; with identity averages"

#: TA-Lib function -> (streaming class, reason). For functions with ``matype``
#: parameters the class is the one with identity averages (matype=10); the
#: chosen averages raise it (:data:`MA_TYPE_CLASS`, :func:`stream_class`).
STREAMING: dict[str, tuple[StreamClass, str]] = {
    # Cycle Indicators
    "HT_DCPERIOD": (R, _HILBERT),
    "HT_DCPHASE": (R, _HILBERT),
    "HT_PHASOR": (R, _HILBERT),
    "HT_SINE": (R, _HILBERT),
    "HT_TRENDMODE": (R, _HILBERT),
    # Math Operators
    "ADD": (E, _ELEMENTWISE),
    "CUMSUM": (P, _PATH),
    "DIV": (E, _ELEMENTWISE),
    "MAX": (E, _EXTREMUM),
    "MAXINDEX": (E, _INDEX),
    "MIN": (E, _EXTREMUM),
    "MININDEX": (E, _INDEX),
    "MINMAX": (E, _EXTREMUM),
    "MINMAXINDEX": (E, _INDEX),
    "MULT": (E, _ELEMENTWISE),
    "SUB": (E, _ELEMENTWISE),
    "SUM": (W, _SUMS),
    # Math Transform
    **{
        name: (E, _ELEMENTWISE)
        for name in (
            [
                "ACOS",
                "ASIN",
                "ATAN",
                "CEIL",
                "COS",
                "COSH",
                "EXP",
                "FLOOR",
                "LN",
                "LOG10",
                "SIN",
                "SINH",
                "SQRT",
                "TAN",
                "TANH",
            ]
        )
    },
    # Momentum Indicators
    "AC": (W, _SUMS + " (SMAs of the median price)"),
    "ADX": (R, _UNSTABLE),
    "ADXR": (R, _EMA + " (ADX)"),
    "AO": (W, _SUMS + " (SMAs of the median price)"),
    "APO": (E, _MATYPE + " fast - slow = 0"),
    "AROON": (E, _EXTREMUM),
    "AROONOSC": (E, _EXTREMUM),
    "BOP": (E, _ELEMENTWISE),
    "CCI": (W, _SUMS),
    "CMO": (R, _UNSTABLE),
    "CMOU": (W, _SUMS),
    "COPPOCK": (W, _SUMS + " (WMA)"),
    "DPO": (W, _SUMS + " (SMA)"),
    "DX": (R, _UNSTABLE),
    "ER": (W, _SUMS),
    "ERI": (R, _EMA),
    "FOSC": (W, _SUMS + " (linear regression)"),
    "FRACTAL": (E, _EXTREMUM),
    "IMI": (E, _NO_CARRY),
    "KDJ": (E, _MATYPE + " the raw stochastic"),
    "MACD": (R, _EMA),
    "MACDEXT": (E, _MATYPE + " fast - slow = 0"),
    "MACDFIX": (R, _EMA),
    "MFI": (W, _SUMS),
    "MINUS_DI": (R, _UNSTABLE),
    "MINUS_DM": (R, _UNSTABLE),
    "MOM": (E, _LAGGED),
    "PLUS_DI": (R, _UNSTABLE),
    "PLUS_DM": (R, _UNSTABLE),
    "PPO": (E, _MATYPE + " fast - slow = 0"),
    "QSTICK": (E, _NO_CARRY),
    "ROC": (E, _LAGGED),
    "ROCP": (E, _LAGGED),
    "ROCR": (E, _LAGGED),
    "ROCR100": (E, _LAGGED),
    "RSI": (R, _UNSTABLE),
    "SMI": (R, _EMA),
    "STOCH": (E, _MATYPE + " the raw stochastic"),
    "STOCHF": (E, _MATYPE + " the raw stochastic"),
    "STOCHRSI": (R, _EMA + " (RSI)"),
    "TRIX": (R, _EMA),
    "TSI": (R, _EMA),
    "ULTOSC": (W, _SUMS),
    "VHF": (E, _NO_CARRY),
    "VORTEX": (W, _SUMS),
    "WAD": (P, _PATH),
    "WILLR": (E, _EXTREMUM),
    # Overlap Studies
    "ACCBANDS": (W, _SUMS + " (SMA)"),
    "BBANDS": (W, _MATYPE + " the running sums of STDDEV"),
    "DEMA": (R, _EMA),
    "DONCHIAN": (E, _EXTREMUM),
    "EMA": (R, _UNSTABLE),
    "HMA": (W, _SUMS + " (WMA)"),
    "HT_TRENDLINE": (R, _HILBERT),
    "KAMA": (R, _UNSTABLE + " (adaptive: U = 100 * max(L, 2))"),
    "KC": (R, _EMA + " (EMA middle band, ATR)"),
    "MA": (E, _MATYPE + " the identity"),
    "MAMA": (R, _HILBERT + " (adaptive: U = 100 * max(L, 2))"),
    "MAVP": (E, _MATYPE + " the identity"),
    "MIDPOINT": (E, _EXTREMUM),
    "MIDPRICE": (E, _EXTREMUM),
    "RMA": (R, _UNSTABLE),
    "SAR": (P, _PATH),
    "SAREXT": (P, _PATH),
    "SMA": (W, _SUMS),
    "SUPERTREND": (P, _PATH),
    "T3": (R, _UNSTABLE),
    "TEMA": (R, _EMA),
    "TRIMA": (W, _SUMS),
    "VWMA": (W, _SUMS),
    "WMA": (W, _SUMS),
    "ZLEMA": (R, _EMA),
    # Pattern Recognition: filled in below
    # Price Transform
    "AVGDEV": (E, _NO_CARRY),
    "AVGPRICE": (E, _ELEMENTWISE),
    "HA": (R, _UNSTABLE + " (Heikin-Ashi open)"),
    "MEDPRICE": (E, _ELEMENTWISE),
    "TYPPRICE": (E, _ELEMENTWISE),
    "WCLPRICE": (E, _ELEMENTWISE),
    # Statistic Functions
    "BETA": (W, _SUMS),
    "CORREL": (W, _SUMS),
    "LINEARREG": (W, _SUMS),
    "LINEARREG_ANGLE": (W, _SUMS),
    "LINEARREG_INTERCEPT": (W, _SUMS),
    "LINEARREG_SLOPE": (W, _SUMS),
    "PERCENTILE": (E, _EXTREMUM),
    "PERCENTRANK": (E, _EXTREMUM),
    "STDDEV": (W, _SUMS + " (re-anchored every 32 * window rows)"),
    "TSF": (W, _SUMS),
    "VAR": (W, _SUMS + " (re-anchored every 32 * window rows)"),
    # Volatility Indicators
    "ADR": (W, _SUMS),
    "ATR": (R, _UNSTABLE),
    "CVI": (R, _EMA + " (EMA of the range)"),
    "MASSI": (R, _EMA + " (EMAs of the range)"),
    "NATR": (R, _UNSTABLE),
    "RVI": (R, _UNSTABLE),
    "TRANGE": (E, _LAGGED),
    # Volume Indicators
    "AD": (P, _PATH),
    "ADOSC": (P, _PATH),
    "CMF": (W, _SUMS),
    "EFI": (R, _EMA),
    "MARKETFI": (E, _ELEMENTWISE),
    "NVI": (P, _PATH),
    "OBV": (P, _PATH),
    "PVI": (P, _PATH),
    "PVO": (E, _MATYPE + " fast - slow = 0"),
    "PVT": (P, _PATH),
    "RVOL": (E, _NO_CARRY),
    "VWAP": (P, _PATH),
}

#: candlestick patterns whose lookback depends on TA-Lib's candle settings: they compare
#: bars with averages of the last 5-10 bars
_CANDLES_WITH_AVERAGES = (
    "2CROWS",
    "3BLACKCROWS",
    "3INSIDE",
    "3LINESTRIKE",
    "3STARSINSOUTH",
    "3WHITESOLDIERS",
    "ABANDONEDBABY",
    "ADVANCEBLOCK",
    "BELTHOLD",
    "BREAKAWAY",
    "CLOSINGMARUBOZU",
    "CONCEALBABYSWALL",
    "COUNTERATTACK",
    "DARKCLOUDCOVER",
    "DOJI",
    "DOJISTAR",
    "DRAGONFLYDOJI",
    "EVENINGDOJISTAR",
    "EVENINGSTAR",
    "GAPSIDESIDEWHITE",
    "GRAVESTONEDOJI",
    "HAMMER",
    "HANGINGMAN",
    "HARAMI",
    "HARAMICROSS",
    "HIGHWAVE",
    "HIKKAKEMOD",
    "HOMINGPIGEON",
    "IDENTICAL3CROWS",
    "INNECK",
    "INVERTEDHAMMER",
    "KICKING",
    "KICKINGBYLENGTH",
    "LADDERBOTTOM",
    "LONGLEGGEDDOJI",
    "LONGLINE",
    "MARUBOZU",
    "MATCHINGLOW",
    "MATHOLD",
    "MORNINGDOJISTAR",
    "MORNINGSTAR",
    "ONNECK",
    "PIERCING",
    "RICKSHAWMAN",
    "RISEFALL3METHODS",
    "SEPARATINGLINES",
    "SHOOTINGSTAR",
    "SHORTLINE",
    "SPINNINGTOP",
    "STALLEDPATTERN",
    "STICKSANDWICH",
    "TAKURI",
    "TASUKIGAP",
    "THRUSTING",
    "TRISTAR",
    "UNIQUE3RIVER",
    "UPSIDEGAP2CROWS",
)
_CANDLES_WITHOUT_AVERAGES = ("3OUTSIDE", "ENGULFING", "HIKKAKE", "XSIDEGAP3METHODS")
STREAMING.update({f"CDL{c}": (W, _CANDLE_SUMS) for c in _CANDLES_WITH_AVERAGES})
STREAMING.update({f"CDL{c}": (E, _CANDLE) for c in _CANDLES_WITHOUT_AVERAGES})

#: TA-Lib ``MA_Type`` value -> the streaming class that moving average brings.
#: 11 ("the function's own default") is treated as recursive: a larger buffer
#: only costs time, never accuracy.
MA_TYPE_CLASS: dict[int, StreamClass] = {
    0: W,  # SMA
    1: R,  # EMA
    2: W,  # WMA
    3: R,  # DEMA
    4: R,  # TEMA
    5: W,  # TRIMA
    6: R,  # KAMA
    7: R,  # MAMA
    8: R,  # T3
    9: W,  # HMA (WMAs)
    10: E,  # identity
    11: R,  # the function's own default
    12: R,  # ZLEMA
    13: R,  # Wilder
}
_ADAPTIVE_FUNCTIONS = frozenset({"KAMA", "MAMA"})
_ADAPTIVE_MA_TYPES = frozenset({6, 7})
_INDEX_FUNCTIONS = frozenset({"MAXINDEX", "MININDEX", "MINMAXINDEX"})
#: rows of extra history per lookback row for recursive functions (see docs/talib.md)
RECURSIVE_ROWS_PER_LOOKBACK = 50
ADAPTIVE_ROWS_PER_LOOKBACK = 100


def _matypes(params: Mapping[str, Any]) -> list[int]:
    return [int(v) for k, v in params.items() if "matype" in k]


def stream_class(function: str, params: Mapping[str, Any]) -> tuple[StreamClass, str]:
    """The streaming class of ``function`` with TA-Lib ``params``, and why.

    Examples
    --------
    >>> stream_class("MA", {"timeperiod": 30, "matype": 1})[0].name
    'RECURSIVE'
    """
    cls, reason = STREAMING[function]
    for mt in _matypes(params):
        brought = MA_TYPE_CLASS.get(mt, R)
        if brought > cls:
            cls, reason = brought, f"{reason}; matype={mt} makes it {brought.name.lower()}"
    return cls, reason


def default_unstable(function: str, params: Mapping[str, Any], lookback: int) -> int | None:
    """The extra rows ``U`` the kernel keeps by default; ``None`` means the whole history."""
    cls, _ = stream_class(function, params)
    if cls is StreamClass.PATH:
        return None
    if cls is StreamClass.RECURSIVE:
        adaptive = function in _ADAPTIVE_FUNCTIONS or any(
            mt in _ADAPTIVE_MA_TYPES for mt in _matypes(params)
        )
        per = ADAPTIVE_ROWS_PER_LOOKBACK if adaptive else RECURSIVE_ROWS_PER_LOOKBACK
        return per * max(lookback, 2)
    if function in _INDEX_FUNCTIONS:
        return lookback + 1
    return 0


def check_talib_defaults(function: str) -> None:
    """Refuse to run when TA-Lib's process-wide settings differ from its defaults.

    ``talib.set_unstable_period`` and ``talib.set_compatibility`` change what
    every TA-Lib call returns, but they are not part of a node's parameters,
    so the node id (and any cached factor) could not tell the results apart.
    """
    talib: Any = importlib.import_module("talib")
    unstable_ids = importlib.import_module("talib._ta_lib")._ta_func_unst_ids
    if talib.get_compatibility() != 0:
        raise BackendError(
            f"talib_{function.lower()}: TA-Lib's compatibility mode is "
            f"{talib.get_compatibility()} (set by talib.set_compatibility); streambt node ids do not "
            "record process-wide TA-Lib settings, so TA-Lib nodes run only with the default. "
            "Call talib.set_compatibility(0)."
        )
    for name in unstable_ids:
        if name in ("NONE", "ALL"):
            continue
        period = talib.get_unstable_period(name)
        if period:
            raise BackendError(
                f"talib_{function.lower()}: TA-Lib's unstable period for {name} is {period} "
                "(set by talib.set_unstable_period); streambt node ids do not record "
                "process-wide TA-Lib settings, so TA-Lib nodes run only with the defaults. "
                f"Call talib.set_unstable_period({name!r}, 0); to keep more history when "
                "streaming, pass stream_unstable=<rows> to the node instead."
            )


def _lookback(function: str, params: Mapping[str, Any]) -> int:
    f = importlib.import_module("talib.abstract").Function(function)
    f.set_parameters(**params)
    return int(f.lookback)


def _first_complete(arrays: list[np.ndarray]) -> int:
    """Where TA-Lib's wrapper starts: the first row at which no input is NaN any more."""
    start = 0
    for a in arrays:
        nums = np.flatnonzero(~np.isnan(a))
        start = max(start, int(nums[0]) if nums.size else a.shape[0])
    return start


class TALibKernel(Kernel, register=False):
    """Runs TA-Lib function :attr:`function` over a bounded (or, for path-dependent
    functions, the whole) history of its inputs.

    State: one buffer per input (the last ``L + U`` rows, float64) and
    ``seen``, the rows consumed so far (it turns the indices MAXINDEX and
    friends return into row numbers of the whole series).

    Parameters
    ----------
    stream_unstable : int or None
        Extra rows ``U`` kept beyond TA-Lib's lookback; ``None`` for the
        default of the function's streaming class (:func:`default_unstable`).
    **params
        TA-Lib's parameters, by TA-Lib's names.

    Examples
    --------
    >>> k = kernel_class("SMA")(timeperiod=3)           # doctest: +SKIP
    >>> k.step(k.init(), {"real": np.arange(5.0)})[1]["real"]  # doctest: +SKIP
    array([nan, nan,  1.,  2.,  3.])
    """

    #: the TA-Lib function name
    function: ClassVar[str]

    def __init__(self, stream_unstable: int | None = None, **params: Any) -> None:
        super().__init__(stream_unstable=stream_unstable, **params)
        import talib

        check_talib_defaults(self.function)
        self.talib_params = params
        self.fn = getattr(talib, self.function)
        self.lookback = _lookback(self.function, params)
        self.stream_class, self.reason = stream_class(self.function, params)
        extra = (
            stream_unstable
            if stream_unstable is not None
            else default_unstable(self.function, params, self.lookback)
        )
        #: input rows kept between steps; None keeps them all
        self.keep: int | None = None if extra is None else self.lookback + int(extra)
        self.index_outputs = self.function in _INDEX_FUNCTIONS

    def init(self) -> State:
        state: State = {f"buf_{r}": np.empty(0) for r in self.inputs}
        state["seen"] = scalar(0, np.int64)
        return state

    def step(self, state: State, cols: Mapping[str, np.ndarray]) -> tuple[State, Columns]:
        new = [np.ascontiguousarray(cols[r], dtype=np.float64) for r in self.inputs]
        n = new[0].shape[0]
        if n == 0:
            return state, {o: np.empty(0) for o in self.outputs}
        bufs = [state[f"buf_{r}"] for r in self.inputs]
        m = bufs[0].shape[0]
        full = [np.concatenate((b, x)) if m else x for b, x in zip(bufs, new, strict=True)]
        result = self.fn(*full, **self.talib_params)
        results = result if isinstance(result, tuple) else (result,)
        out: Columns = {}
        for name, values in zip(self.outputs, results, strict=True):
            col = np.asarray(values[m:], dtype=np.float64)
            if self.index_outputs:
                # TA-Lib returns indices into the array it was given; past its warm-up
                # (where it returns 0), shift them to row numbers of the whole series.
                valid = np.arange(m, m + n) >= _first_complete(full) + self.lookback
                col[valid] += float(int(state["seen"][0]) - m)
            out[name] = col
        for r, f in zip(self.inputs, full, strict=True):
            if self.keep is None:
                # the whole history; a fresh concatenation is already ours, a first chunk is not
                state[f"buf_{r}"] = f if m else f.copy()
            else:
                # copy: a slice would keep the whole concatenation (or the caller's column) alive
                state[f"buf_{r}"] = f[f.shape[0] - min(self.keep, f.shape[0]) :].copy()
        state["seen"][0] += n
        return state, out


_lock = threading.Lock()
_kernels: dict[str, type[TALibKernel]] = {}


def kernel_class(
    function: str, inputs: tuple[str, ...] = (), outputs: tuple[str, ...] = ()
) -> type[TALibKernel]:
    """The kernel class of TA-Lib ``function``, registered as ``TALib_<NAME>``.

    Made once, by :func:`streambt.ops.talib_functions.talib` (which passes the
    op's input roles, or data fields, in TA-Lib's argument order, and its outputs).
    """
    if not outputs:
        known = _kernels.get(function)
        if known is None:
            from ..ops.talib_functions import talib

            talib(function)  # makes the op, which makes this kernel
            known = _kernels[function]
        return known
    with _lock:
        cls = _kernels.get(function)
        if cls is None:
            name = f"TALib_{function}Kernel"
            namespace = {
                "__module__": __name__,
                "__qualname__": name,
                "__doc__": f"Kernel of TA-Lib's {function} (see :class:`TALibKernel`).",
                "function": function,
                "inputs": inputs,
                "outputs": outputs,
            }
            # Kernel.__init_subclass__ registers it in KERNELS under "TALib_<NAME>".
            cls = type(name, (TALibKernel,), namespace)
            _kernels[function] = cls
        return cls


def __getattr__(name: str) -> Any:
    # Lets pickle find the classes made by kernel_class() under their qualified names.
    if name.startswith("TALib_") and name.endswith("Kernel"):
        try:
            return kernel_class(name.removeprefix("TALib_").removesuffix("Kernel"))
        except Exception as e:
            raise AttributeError(name) from e
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

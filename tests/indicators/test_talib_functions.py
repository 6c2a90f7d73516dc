"""Any TA-Lib function as a node: ``sb.ind.talib("NAME")``.

Checks the claims of docs/talib.md: every function of ``talib.get_functions()``
runs through ``Cerebro.run`` equal to TA-Lib; the streaming kernel is bit for
bit exact for the ``exact`` and ``path`` classes and within the stated
tolerance for ``window`` and ``recursive``; the class table covers every
function, follows TA-Lib's own flags, and each class is the tightest one (the
no-carry check for ``exact``, the need for extra history for ``recursive``).
"""

from __future__ import annotations

import itertools
import pickle
import subprocess
import sys
import textwrap
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pytest

import streambt as sb
from streambt.errors import BackendError, InvalidInputError, InvalidParameterError
from streambt.kernels.base import KERNELS, dumps_state, loads_state
from streambt.ops.base import OpKind
from tests.helpers import goog_frame
from tests.indicators.harness import DATASETS, gapped_bars

ta = pytest.importorskip("talib")
abstract = pytest.importorskip("talib.abstract")

from streambt.kernels.talib_functions import (  # noqa: E402
    MA_TYPE_CLASS,
    STREAMING,
    StreamClass,
    default_unstable,
    stream_class,
)
from streambt.ops.talib_functions import TALibFunction, talib  # noqa: E402

FUNCTIONS = sorted(ta.get_functions())
#: the tolerance docs/talib.md states for the window and recursive classes
TOL = 1e-9
INDEX = ("MAXINDEX", "MININDEX", "MINMAXINDEX")


# -- helpers ---------------------------------------------------------------------------


def grid_bars(n: int = 2500, seed: int = 11) -> pd.DataFrame:
    """A random walk on a cent grid: equal highs, lows and bodies are common (ties)."""
    rng = np.random.default_rng(seed)
    tick = 0.01
    steps = rng.choice([-1, 0, 0, 1], n) * tick * rng.integers(1, 4, n)
    close = np.round(np.maximum(20 + np.cumsum(steps), 1), 2)
    open_ = np.round(np.r_[close[0], close[:-1]] + rng.choice([-1, 0, 1], n) * tick, 2)
    high = np.round(np.maximum(open_, close) + rng.choice([0, 0, tick, 2 * tick], n), 2)
    low = np.round(np.minimum(open_, close) - rng.choice([0, 0, tick, 2 * tick], n), 2)
    volume = rng.integers(1, 50, n).astype(float) * 100
    ts = pd.date_range("2015-01-01", periods=n, freq="1D", tz="UTC")
    return pd.DataFrame(
        {"ts": ts, "open": open_, "high": high, "low": low, "close": close, "volume": volume}
    )


_FRAMES = {**{name: make() for name, make in DATASETS.items()}, "grid": grid_bars()}


def _arrays(op: type[TALibFunction], df: pd.DataFrame) -> dict[str, np.ndarray]:
    """Inputs by role: close for a real input (in the domain of ACOS/ASIN/EXP/...), open
    as the second real input, the dominant cycle period as MAVP's periods."""
    close = df["close"].to_numpy(float)
    if op.data_fields:
        return {f: df[f].to_numpy(float) for f in op.data_fields}
    real = close
    if op.function in ("ACOS", "ASIN"):
        real = np.sin(close)
    elif op.function in ("EXP", "SINH", "COSH"):
        real = np.log(close)
    out = {"real": real, "real0": close, "real1": df["open"].to_numpy(float)}
    out["periods"] = ta.HT_DCPERIOD(close)
    return {r: out[r] for r in op.inputs}


def _direct(op: type[TALibFunction], arrays: Mapping[str, np.ndarray], **params: Any) -> dict:
    roles = op.data_fields or op.inputs
    res = getattr(ta, op.function)(*[arrays[r] for r in roles], **params)
    res = res if isinstance(res, tuple) else (res,)
    return {o: np.asarray(v, dtype=float) for o, v in zip(op.outputs, res, strict=True)}


def _spans(n: int, how: str, seed: int = 0) -> list[tuple[int, int]]:
    if how == "whole":
        return [(0, n)]
    if how == "97":
        return [(a, min(a + 97, n)) for a in range(0, n, 97)]
    rng = np.random.default_rng(seed)
    cuts = np.cumsum(rng.integers(1, 160, n))
    cuts = cuts[cuts < n]
    edges = [0, *cuts.tolist(), n]
    return list(itertools.pairwise(edges))


def _stream(
    op: type[TALibFunction],
    arrays: Mapping[str, np.ndarray],
    spans: list[tuple[int, int]],
    roundtrip: bool = False,
    **params: Any,
) -> dict[str, np.ndarray]:
    kernel = KERNELS[op.op_name()](**op.validate(params, "test"))
    state = kernel.init()
    parts: list[dict[str, np.ndarray]] = []
    for a, b in spans:
        if roundtrip:  # what an engine's state store does between micro-batches
            state = loads_state(dumps_state(state))
        state, out = kernel.step(state, {r: v[a:b] for r, v in arrays.items()})
        parts.append(out)
    return {o: np.concatenate([p[o] for p in parts]) for o in op.outputs}


def _error(got: np.ndarray, want: np.ndarray) -> float:
    """max |got - want| / max(|want|, rms(want)); inf when the NaN masks differ."""
    gn, wn = np.isnan(got), np.isnan(want)
    if not np.array_equal(gn, wn):
        return float("inf")
    g, w = got[~gn], want[~wn]
    if g.size == 0:
        return 0.0
    rms = float(np.sqrt(np.mean(w * w))) or 1.0
    return float(np.max(np.abs(g - w) / np.maximum(np.abs(w), rms)))


def assert_bitwise(got: np.ndarray, want: np.ndarray, what: str) -> None:
    if not np.array_equal(got, want, equal_nan=True):
        bad = np.flatnonzero(~((got == want) | (np.isnan(got) & np.isnan(want))))
        i = int(bad[0])
        raise AssertionError(
            f"{what}: {bad.size} rows differ, first at {i}: {got[i]!r} != {want[i]!r}"
        )


def assert_claim(
    cls: StreamClass, got: Mapping[str, np.ndarray], want: Mapping[str, np.ndarray], what: str
) -> None:
    for o in want:
        if cls in (StreamClass.EXACT, StreamClass.PATH):
            assert_bitwise(got[o], want[o], f"{what} {o}")
        else:
            err = _error(got[o], want[o])
            assert err <= TOL, f"{what} {o}: error {err:.3g} > {TOL:g}"


# -- the class table ---------------------------------------------------------------------


def test_table_covers_every_function() -> None:
    assert sorted(STREAMING) == FUNCTIONS


def test_table_follows_talib_flags() -> None:
    for name in FUNCTIONS:
        flags = abstract.Function(name).info["function_flags"] or []
        cls, reason = STREAMING[name]
        path = any("path-dependent" in f for f in flags)
        assert (cls is StreamClass.PATH) == path, name
        if any("unstable period" in f for f in flags):
            assert cls is StreamClass.RECURSIVE, f"{name}: flagged unstable, table says {cls}"
        assert reason


def test_ma_type_table_covers_talib_ma_types() -> None:
    valid = [mt for mt in range(40) if talib("MA").lookback({"timeperiod": 20, "matype": mt}) > 0]
    assert sorted(MA_TYPE_CLASS) == valid


def test_matype_raises_the_class() -> None:
    assert stream_class("MA", {"timeperiod": 30, "matype": 0})[0] is StreamClass.WINDOW
    assert stream_class("MA", {"timeperiod": 30, "matype": 1})[0] is StreamClass.RECURSIVE
    assert stream_class("STOCH", {"slowk_matype": 10, "slowd_matype": 10})[0] is StreamClass.EXACT
    # the defaults of APO/PPO/PVO/KDJ are recursive averages
    for name in ("APO", "PPO", "PVO", "KDJ"):
        defaults = dict(abstract.Function(name).info["parameters"])
        assert stream_class(name, defaults)[0] is StreamClass.RECURSIVE, name


# -- every function through Cerebro -------------------------------------------------------


def _all_functions_graph(df: pd.DataFrame) -> tuple[sb.Cerebro, dict[str, sb.Ref]]:
    cb = sb.Cerebro()
    data = cb.add_data(sb.feeds.from_pandas(df, symbol="X"))
    sin = cb.add_indicator(talib("SIN"), data["close"])
    ln = cb.add_indicator(talib("LN"), data["close"])
    period = cb.add_indicator(talib("HT_DCPERIOD"), data["close"])
    refs: dict[str, sb.Ref] = {}
    for name in FUNCTIONS:
        op = talib(name)
        if op.data_fields:
            args = [data]
        elif name in ("ACOS", "ASIN"):
            args = [sin]
        elif name in ("EXP", "SINH", "COSH"):
            args = [ln]
        elif name == "MAVP":
            args = [data["close"], period]
        elif len(op.inputs) == 2:
            args = [data["close"], data["open"]]
        else:
            args = [data["close"]]
        refs[name] = cb.add_indicator(op, *args)
    return cb, refs


@pytest.fixture(scope="module")
def goog_all() -> tuple[sb.Cerebro, dict[str, sb.Ref], pd.DataFrame]:
    df = goog_frame()
    cb, refs = _all_functions_graph(df)
    return cb, refs, df


def _values(res: Any, ref: sb.Ref) -> dict[str, np.ndarray]:
    outputs = ref.node.op.outputs
    if len(outputs) == 1:
        return {outputs[0]: res.values(ref)}
    return {o: res.values(ref[o]) for o in outputs}


def test_every_function_runs_through_cerebro_equal_to_talib(goog_all: Any) -> None:
    cb, refs, df = goog_all
    # SIN, LN and HT_DCPERIOD were declared twice: one node each
    assert len(cb.graph) == 1 + len(FUNCTIONS)
    res = cb.run()
    for name, ref in refs.items():
        op = ref.node.op
        want = _direct(op, _arrays(op, df))
        got = _values(res, ref)
        for o in op.outputs:
            np.testing.assert_array_equal(np.isnan(got[o]), np.isnan(want[o]), err_msg=name)
            ok = ~np.isnan(want[o])
            np.testing.assert_allclose(got[o][ok], want[o][ok], rtol=1e-9, atol=0, err_msg=name)


def test_every_function_streams_through_cerebro_as_its_class_claims(goog_all: Any) -> None:
    cb, refs, df = goog_all
    res = cb.run(mode="stream", micro_batch=97)
    for name, ref in refs.items():
        op = ref.node.op
        cls, _ = stream_class(name, dict(abstract.Function(name).info["parameters"]))
        assert_claim(cls, _values(res, ref), _direct(op, _arrays(op, df)), f"{name} stream")


# -- the streaming claims, per function, on the kernel ---------------------------------------


@pytest.mark.parametrize("name", FUNCTIONS)
def test_streaming_claim(name: str) -> None:
    op = talib(name)
    cls, _ = stream_class(name, dict(abstract.Function(name).info["parameters"]))
    for dataset, df in _FRAMES.items():
        arrays = _arrays(op, df)
        n = len(df)
        want = _direct(op, arrays)
        assert_claim(cls, _stream(op, arrays, _spans(n, "whole")), want, f"{name} {dataset} whole")
        # batch is one call on the whole series: exactly TA-Lib
        for o in want:
            assert_bitwise(_stream(op, arrays, _spans(n, "whole"))[o], want[o], f"{name} batch")
        got = _stream(op, arrays, _spans(n, "random", seed=n), roundtrip=True)
        assert_claim(cls, got, want, f"{name} {dataset} random chunks")


ROW_BY_ROW = ["WILLR", "MININDEX", "CDLENGULFING", "SMA", "BBANDS", "EMA", "RSI", "MACD", "OBV"]


@pytest.mark.parametrize("name", ROW_BY_ROW)
def test_row_by_row_prefix(name: str) -> None:
    op = talib(name)
    cls, _ = stream_class(name, dict(abstract.Function(name).info["parameters"]))
    arrays = {r: v[:400] for r, v in _arrays(op, _FRAMES["gaps"]).items()}
    spans = [(i, i + 1) for i in range(400)]
    assert_claim(cls, _stream(op, arrays, spans), _direct(op, arrays), f"{name} row by row")


def _spiked(grid: bool) -> pd.DataFrame:
    """Bars with a 1e12 spike in every field at row SPIKE_AT: on a cent grid (ties are
    common) or the generated bars of the harness (no two sums round alike)."""
    df = (grid_bars() if grid else gapped_bars(2500, seed=5)).drop(columns="ts")
    for f in ("open", "high", "close", "volume"):
        df.loc[SPIKE_AT, f] = 1e12
    df.loc[SPIKE_AT, "low"] = 1e-3
    return df


SPIKE_AT, RESTART = 600, 900
_SPIKED = {grid: _spiked(grid) for grid in (True, False)}


NO_CARRY_CHECKED = [
    n
    for n in FUNCTIONS
    if STREAMING[n][0] in (StreamClass.EXACT, StreamClass.WINDOW) and not n.startswith("CDL")
]


@pytest.mark.parametrize("name", NO_CARRY_CHECKED)
def test_exact_class_is_the_no_carry_check(name: str) -> None:
    """``exact`` iff, once a 1e12 spike has left the window, the outputs equal those of a
    fresh start, on both spiked datasets: a running sum keeps the spike's rounding error
    and fails the check on at least one of them."""
    op = talib(name)
    # functions whose class depends on matype are checked with identity averages (matype=10)
    params = {p: 10 for p in op.talib_params if "matype" in p}
    assert stream_class(name, params)[0] is STREAMING[name][0]
    same = True
    for df in _SPIKED.values():
        arrays = _arrays(op, df)
        lookback = op.lookback(params) - 1
        assert lookback < RESTART - SPIKE_AT
        full = _direct(op, arrays, **params)
        fresh = _direct(op, {r: v[RESTART:] for r, v in arrays.items()}, **params)
        skip = lookback + (default_unstable(name, params, lookback) or 0)
        for o in op.outputs:
            f, g = full[o][RESTART + skip :], fresh[o][skip:]
            if name in INDEX:
                g = g + RESTART
            same &= bool(np.array_equal(f, g, equal_nan=True))
    assert same == (STREAMING[name][0] is StreamClass.EXACT), (name, STREAMING[name])


def test_candlestick_class_is_whether_it_uses_candle_averages() -> None:
    """A pattern is ``window`` iff its lookback shrinks when TA-Lib's candle settings average
    over 0 bars: it then compares bars with averages TA-Lib carries as running totals."""
    lib = pytest.importorskip("talib._ta_lib")
    kinds = lib.CandleSettingType
    settings = [k for k in dir(kinds) if not k.startswith("_") and k != "AllCandleSettings"]
    patterns = [n for n in FUNCTIONS if n.startswith("CDL")]
    before = {n: abstract.Function(n).lookback for n in patterns}
    try:
        for k in settings:
            lib._ta_set_candle_settings(getattr(kinds, k), 0, 0, 1.0)
        after = {n: abstract.Function(n).lookback for n in patterns}
    finally:
        lib._ta_restore_candle_default_settings(kinds.AllCandleSettings)
    assert {n: abstract.Function(n).lookback for n in patterns} == before
    for n in patterns:
        uses_averages = after[n] != before[n]
        assert (STREAMING[n][0] is StreamClass.WINDOW) == uses_averages, n


@pytest.mark.parametrize(
    "name",
    [
        n
        for n in FUNCTIONS
        if stream_class(n, dict(abstract.Function(n).info["parameters"]))[0]
        is StreamClass.RECURSIVE
    ],
)
def test_recursive_class_needs_its_extra_history(name: str) -> None:
    """With only the lookback kept (U = 0) a recursive function is off by far more than the
    tolerance; its default extra history brings it within."""
    op = talib(name)
    df = _FRAMES["goog"]
    arrays = _arrays(op, df)
    want = _direct(op, arrays)
    got = _stream(op, arrays, _spans(len(df), "97"), stream_unstable=0)
    assert max(_error(got[o], want[o]) for o in op.outputs) > 1e3 * TOL


@pytest.mark.parametrize("matype", sorted(MA_TYPE_CLASS))
def test_ma_types_meet_their_class(matype: int) -> None:
    op = talib("MA")
    params = {"timeperiod": 20, "matype": matype}
    cls, _ = stream_class("MA", params)
    for dataset, df in _FRAMES.items():
        arrays = _arrays(op, df)
        want = _direct(op, arrays, **params)
        got = _stream(op, arrays, _spans(len(df), "random", seed=matype), **params)
        assert_claim(cls, got, want, f"MA matype={matype} {dataset}")


def test_path_class_keeps_the_whole_history() -> None:
    op = talib("OBV")
    df = _FRAMES["gaps"]
    arrays = _arrays(op, df)
    want = _direct(op, arrays)
    spans = _spans(len(df), "97")
    # a bounded buffer is off by a constant offset: OBV carries the whole history
    assert _error(_stream(op, arrays, spans, stream_unstable=500)["real"], want["real"]) > 1e-3
    kernel = KERNELS[op.op_name()](stream_unstable=None)
    state = kernel.init()
    for a, b in spans:
        state, _ = kernel.step(state, {r: v[a:b] for r, v in arrays.items()})
    assert state["buf_close"].shape == (len(df),)


def test_buffer_is_bounded_by_lookback_plus_unstable() -> None:
    op = talib("EMA")
    kernel = KERNELS[op.op_name()](timeperiod=10, stream_unstable=None)
    assert kernel.keep == 9 + 50 * 9
    state = kernel.init()
    x = _FRAMES["gaps"]["close"].to_numpy(float)
    for a, b in _spans(len(x), "97"):
        state, _ = kernel.step(state, {"real": x[a:b]})
    assert state["buf_real"].shape == (9 + 450,)
    assert int(state["seen"][0]) == len(x)
    assert KERNELS[op.op_name()](timeperiod=10, stream_unstable=7).keep == 16


def test_indicator_of_indicator_with_leading_nans() -> None:
    df = _FRAMES["gaps"]
    rsi = ta.RSI(df["close"].to_numpy(float), 14)
    for name, params in (
        ("SMA", {"timeperiod": 10}),
        ("EMA", {"timeperiod": 10}),
        ("MAXINDEX", {}),
    ):
        op = talib(name)
        want = _direct(op, {"real": rsi}, **params)
        for how in ("whole", "97", "random"):
            got = _stream(op, {"real": rsi}, _spans(len(rsi), how), **params)
            cls, _ = stream_class(name, params)
            assert_claim(cls, got, want, f"{name}(RSI) {how}")
    # and through Cerebro: talib SMA over talib RSI
    cb = sb.Cerebro()
    data = cb.add_data(sb.feeds.from_pandas(df, symbol="X"))
    r = cb.add_indicator(talib("RSI"), data["close"], timeperiod=14)
    s = cb.add_indicator(talib("SMA"), r, timeperiod=10)
    want = ta.SMA(rsi, 10)
    for mode, opts in (("batch", {}), ("stream", {"micro_batch": 97})):
        got = cb.run(mode=mode, **opts).values(s)
        assert _error(got, want) <= TOL, mode


# -- the op classes --------------------------------------------------------------------------


def test_one_class_per_function() -> None:
    macd = talib("MACD")
    assert talib("macd") is macd and talib(" MACD ") is macd
    assert macd.op_name() == "TALib_MACD"
    assert macd.outputs == ("macd", "macdsignal", "macdhist")
    assert macd.kind is OpKind.RECURSIVE
    assert macd.talib_params == ("fastperiod", "slowperiod", "signalperiod")
    ta_version = ta.__ta_version__
    ta_version = ta_version.decode() if isinstance(ta_version, bytes) else str(ta_version)
    assert ta_version in str(macd.version)
    assert talib("ATR").data_fields == ("high", "low", "close") and talib("ATR").inputs == ()
    assert talib("OBV").data_fields == ("close", "volume")
    assert talib("BETA").inputs == ("real0", "real1")
    assert talib("MAVP").inputs == ("real", "periods")
    assert talib("CDLDOJI").data_fields == ("open", "high", "low", "close")
    for name in FUNCTIONS:
        info = abstract.Function(name).info
        op = talib(name)
        assert op.outputs == tuple(info["output_names"]), name
        defaults = {p.name: p.default for p in op.params}
        assert {k: defaults[k] for k in info["parameters"]} == dict(info["parameters"]), name


def test_classes_pickle_by_reference() -> None:
    op = talib("STOCH")
    assert pickle.loads(pickle.dumps(op)) is op
    kernel = KERNELS[op.op_name()]
    assert pickle.loads(pickle.dumps(kernel)) is kernel


def test_node_ids_are_stable_across_processes(tmp_path: Any) -> None:
    code = textwrap.dedent(
        """
        import pandas as pd, streambt as sb
        from streambt.ops.talib_functions import talib
        df = pd.DataFrame({"ts": pd.date_range("2020", periods=3, tz="UTC"), "open": 1.0,
                           "high": 1.0, "low": 1.0, "close": 1.0, "volume": 1.0})
        cb = sb.Cerebro()
        data = cb.add_data(sb.feeds.from_pandas(df, symbol="X"))
        print(cb.add_indicator(talib("MACD"), data["close"], fastperiod=10).id)
        print(cb.add_indicator(talib("ATR"), data).id)
        """
    )
    runs = [
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        for _ in range(2)
    ]
    assert runs[0].stdout == runs[1].stdout and len(runs[0].stdout.split()) == 2


def test_usage_in_cerebro_and_dedupe() -> None:
    df = _FRAMES["goog"]
    cb = sb.Cerebro()
    data = cb.add_data(sb.feeds.from_pandas(df, symbol="X"))
    a = cb.add_indicator(talib("MACD"), data["close"], fastperiod=12, slowperiod=26, signalperiod=9)
    b = cb.add_indicator(talib("MACD"), data["close"])  # the defaults: the same node
    c = cb.add_indicator(talib("MACD"), data["close"], fastperiod=10)
    assert a.id == b.id != c.id
    res = cb.run()
    close = df["close"].to_numpy(float)
    np.testing.assert_array_equal(res.values(a["macdsignal"]), ta.MACD(close)[1])


# -- bad usage -------------------------------------------------------------------------------


def test_unknown_function_suggests_the_name() -> None:
    with pytest.raises(InvalidParameterError, match=r'no function .MCAD.*Did you mean "MACD"'):
        talib("MCAD")
    with pytest.raises(InvalidParameterError, match="TA-Lib function name"):
        talib(3)  # type: ignore[arg-type]


@pytest.fixture
def data_ref() -> tuple[sb.Cerebro, sb.Ref]:
    cb = sb.Cerebro()
    return cb, cb.add_data(sb.feeds.from_pandas(gapped_bars().iloc[:60], symbol="X"))


@pytest.mark.parametrize(
    ("name", "params", "match"),
    [
        (
            "MACD",
            {"fastperiod": 0},
            r"talib_macd\(close, fastperiod=0\).*fastperiod must be an integer in \[2, 100000\].*got 0; pass e.g. fastperiod=12",
        ),
        ("MACD", {"signalperiod": -3}, r"signalperiod must be an integer in \[1, 100000\].*got -3"),
        (
            "MACD",
            {"fastperiod": 2.5},
            r"fastperiod must be an integer, got 2.5; pass e.g. fastperiod=12",
        ),
        (
            "MACD",
            {"fastperod": 3},
            r"unknown parameter 'fastperod'. Did you mean \"fastperiod\"\? talib_macd takes fastperiod, slowperiod, signalperiod, stream_unstable",
        ),
        ("BBANDS", {"nbdevup": float("nan")}, r"nbdevup must be a finite number, got nan"),
        ("MA", {"matype": 99}, r"matype must be an integer in \[0, 13\]"),
        ("SMA", {"timeperiod": True}, r"timeperiod must be an integer, got True"),
        ("SMA", {"stream_unstable": -1}, r"stream_unstable must be None or an integer >= 0"),
    ],
)
def test_bad_parameters(data_ref: Any, name: str, params: dict, match: str) -> None:
    cb, data = data_ref
    with pytest.raises(InvalidParameterError, match=match):
        cb.add_indicator(talib(name), data["close"], **params)


def test_wrong_input_kinds(data_ref: Any) -> None:
    cb, data = data_ref
    with pytest.raises(
        InvalidInputError, match="got the whole data feed where a column was expected"
    ):
        cb.add_indicator(talib("SMA"), data)
    with pytest.raises(
        InvalidInputError, match=r"talib_beta takes 2 input\(s\) \(real0, real1\), got 1"
    ):
        cb.add_indicator(talib("BETA"), data["close"])
    sma = cb.add_indicator(talib("SMA"), data["close"])
    with pytest.raises(InvalidInputError, match="reads high, low, close; pass the data ref"):
        cb.add_indicator(talib("ATR"), sma)


def test_changed_talib_global_settings_are_refused(data_ref: Any) -> None:
    cb, data = data_ref
    cb.add_indicator(talib("EMA"), data["close"], timeperiod=5)
    ta.set_unstable_period("EMA", 10)
    try:
        with pytest.raises(
            BackendError, match=r"unstable period for EMA is 10.*set_unstable_period\('EMA', 0\)"
        ):
            cb.run()
    finally:
        ta.set_unstable_period("EMA", 0)
    cb.run()

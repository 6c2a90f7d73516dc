"""User indicators as first-class nodes: ``window_indicator`` and ``recursive_indicator``.

Each decorated function runs through ``Cerebro.run`` in every form of the
harness (batch, kernels placement, stream) with identical results, equals an
independent reference (TA-Lib or a plain loop), and gets node ids that are
stable across processes, shared by equal functions and changed by edits.
"""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import streambt as sb
from streambt.errors import GraphError, InvalidInputError, InvalidParameterError
from streambt.kernels.base import KERNELS, dumps_state, loads_state
from streambt.ops.user import recursive_indicator, window_indicator
from tests.indicators.harness import DATASETS, ROWWISE, assert_same, run_forms

ta = pytest.importorskip("talib")

# -- indicators under test ---------------------------------------------------------------


@window_indicator
def efficiency(x, *, window=10):
    """Kaufman's efficiency ratio: net move over the path length of the window."""
    path = np.abs(np.diff(x)).sum()
    return abs(x[-1] - x[0]) / path if path > 0 else math.nan


@window_indicator(vectorized=True)
def efficiency_v(x, *, window=10):
    path = np.abs(np.diff(x, axis=1)).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(path > 0, np.abs(x[:, -1] - x[:, 0]) / path, np.nan)


@window_indicator
def hl_range(high, low, *, window=20):
    return high.max() - low.min()


@window_indicator(outputs=("upper", "lower"), from_data=True, name="channel")
def channel(high, low, *, window=20, scale=1.0):
    return high.max() * scale, low.min() * scale


@window_indicator(window="n")
def zscore(x, *, n=20):
    return (x[-1] - x.mean()) / x.std() if x.std() > 0 else math.nan


@recursive_indicator
class ewma:
    """Exponentially weighted mean, seeded with the first value."""

    @staticmethod
    def init():
        return {"m": math.nan}

    @staticmethod
    def step(state, x, *, alpha=0.1):
        m = x if math.isnan(state["m"]) else state["m"] + alpha * (x - state["m"])
        return {"m": m}, m


@recursive_indicator(from_data=True)
class wilder_atr:
    """Wilder's average true range, written the way TA-Lib computes ATR."""

    @staticmethod
    def init(window=14):
        return (math.nan, 0.0, 0, math.nan)  # prev close, seed sum, rows, atr

    @staticmethod
    def step(state, high, low, close, *, window=14):
        prev, total, rows, atr = state
        rows += 1
        if rows == 1:
            return (close, total, rows, atr), math.nan
        tr = max(high - low, abs(high - prev), abs(low - prev))
        if rows <= window:  # seeding: TA-Lib averages the first `window` true ranges
            return (close, total + tr, rows, atr), math.nan
        seeded = rows == window + 1
        atr = (total + tr) / window if seeded else (atr * (window - 1) + tr) / window
        return (close, total, rows, atr), atr


@recursive_indicator(outputs=("peak", "drawdown"))
class drawdown:
    @staticmethod
    def init():
        return {"peak": -math.inf, "recent": np.full(3, np.nan)}

    @staticmethod
    def step(state, x):
        peak = max(state["peak"], x)
        recent = np.roll(state["recent"], -1)
        recent[-1] = x
        return {"peak": peak, "recent": recent}, (peak, x / peak - 1.0)


def _init_count() -> tuple[int]:
    return (0,)


def _step_count(state, x, *, every=2):
    (k,) = state
    return (k + 1,), float((k + 1) % every == 0)


counter = recursive_indicator(init=_init_count, step=_step_count, name="counter")


# -- references ---------------------------------------------------------------------------


def _windows(x: np.ndarray, n: int) -> np.ndarray:
    return np.lib.stride_tricks.sliding_window_view(x, n)


def ref_efficiency(x: np.ndarray, n: int) -> np.ndarray:
    out = np.full(len(x), np.nan)
    for i, w in enumerate(_windows(x, n)):
        path = np.abs(np.diff(w)).sum()
        out[i + n - 1] = abs(w[-1] - w[0]) / path if path > 0 else np.nan
    return out


def ref_ewma(x: np.ndarray, alpha: float) -> np.ndarray:
    out, m = np.empty(len(x)), math.nan
    for i, v in enumerate(x.tolist()):
        m = v if math.isnan(m) else m + alpha * (v - m)
        out[i] = m
    return out


@pytest.fixture(params=sorted(DATASETS))
def frame(request: Any) -> pd.DataFrame:
    return DATASETS[request.param]()


def _assert_forms_equal(forms: dict[str, dict[str, np.ndarray]], want: dict, what: str) -> None:
    """Every form bit for bit equal to the first, and the first equal to the reference."""
    first = next(iter(forms.values()))
    for form, outs in forms.items():
        for o, values in outs.items():
            np.testing.assert_array_equal(values, first[o], err_msg=f"{what} {form} {o}")
    for o, values in want.items():
        assert_same(first[o], values, f"{what} {o}")


# -- window indicators ----------------------------------------------------------------------


def test_window_function_in_every_form(frame: pd.DataFrame) -> None:
    close = frame["close"].to_numpy(float)
    forms = run_forms(efficiency, frame, ("close",), {"window": 20})
    _assert_forms_equal(forms, {"value": ref_efficiency(close, 20)}, "efficiency")
    assert np.isnan(forms["stream"]["value"][:19]).all()


def test_vectorized_equals_per_window(frame: pd.DataFrame) -> None:
    per_window = run_forms(efficiency, frame, ("close",), {"window": 15})
    vectorized = run_forms(efficiency_v, frame, ("close",), {"window": 15})
    for form in per_window:
        np.testing.assert_array_equal(vectorized[form]["value"], per_window[form]["value"])


def test_multi_input_window(frame: pd.DataFrame) -> None:
    high, low = frame["high"].to_numpy(float), frame["low"].to_numpy(float)
    forms = run_forms(hl_range, frame, ("high", "low"), {"window": 20})
    want = ta.MAX(high, 20) - ta.MIN(low, 20)
    _assert_forms_equal(forms, {"value": want}, "hl_range")


def test_multi_output_from_data(frame: pd.DataFrame) -> None:
    high, low = frame["high"].to_numpy(float), frame["low"].to_numpy(float)
    forms = run_forms(channel, frame, "data", {"window": 10, "scale": 2.0})
    want = {"upper": ta.MAX(high, 10) * 2.0, "lower": ta.MIN(low, 10) * 2.0}
    _assert_forms_equal(forms, want, "channel")
    assert channel.outputs == ("upper", "lower") and channel.data_fields == ("high", "low")


def test_named_window_parameter_and_row_by_row() -> None:
    df = DATASETS["gaps"]().iloc[:300]
    close = df["close"].to_numpy(float)
    want = np.full(len(close), np.nan)
    for i, w in enumerate(_windows(close, 7)):
        want[i + 6] = (w[-1] - w.mean()) / w.std()
    forms = run_forms(zscore, df, ("close",), {"n": 7}, forms={"rowwise": ROWWISE})
    assert_same(forms["rowwise"]["value"], want, "zscore row by row")
    assert zscore.lookback({"n": 7}) == 7


def test_leading_nans_are_skipped_like_talib() -> None:
    df = DATASETS["gaps"]()
    rsi = ta.RSI(df["close"].to_numpy(float), 14)
    got = efficiency.compute(rsi, window=5)
    want = np.full(len(rsi), np.nan)
    want[14:] = ref_efficiency(rsi[14:], 5)
    assert_same(got, want, "efficiency of RSI")
    assert np.isnan(got[: 14 + 4]).all() and not np.isnan(got[14 + 4])
    # and through Cerebro, in chunks that end inside the warm-up
    cb = sb.Cerebro()
    data = cb.add_data(sb.feeds.from_pandas(df, symbol="X"))
    r = cb.add_indicator(sb.ind.rsi, data["close"], window=14)
    e = cb.add_indicator(efficiency, r, window=5)
    for mode, opts in (("batch", {}), ("stream", {"micro_batch": 7})):
        assert_same(cb.run(mode=mode, **opts).values(e), want, f"efficiency(rsi) {mode}")


def test_window_of_one_and_short_inputs() -> None:
    x = np.array([1.0, 4.0, 2.0])
    np.testing.assert_array_equal(hl_range.compute(x, x, window=1), np.zeros(3))
    assert np.isnan(efficiency.compute(x, window=10)).all()
    assert efficiency.compute(np.empty(0), window=3).shape == (0,)


# -- recursive indicators --------------------------------------------------------------------


def test_recursive_class_in_every_form(frame: pd.DataFrame) -> None:
    close = frame["close"].to_numpy(float)
    forms = run_forms(ewma, frame, ("close",), {"alpha": 0.2})
    _assert_forms_equal(forms, {"value": ref_ewma(close, 0.2)}, "ewma")
    np.testing.assert_array_equal(forms["kernels"]["value"], ref_ewma(close, 0.2))


def test_recursive_from_data_equals_talib_atr(frame: pd.DataFrame) -> None:
    h, lo, c = (frame[f].to_numpy(float) for f in ("high", "low", "close"))
    forms = run_forms(wilder_atr, frame, "data", {"window": 14})
    _assert_forms_equal(forms, {"value": ta.ATR(h, lo, c, 14)}, "wilder_atr")


def test_recursive_multi_output_with_array_state(frame: pd.DataFrame) -> None:
    close = frame["close"].to_numpy(float)
    forms = run_forms(drawdown, frame, ("close",))
    peak = np.maximum.accumulate(close)
    _assert_forms_equal(forms, {"peak": peak, "drawdown": close / peak - 1.0}, "drawdown")


def test_recursive_from_init_and_step_functions() -> None:
    x = np.arange(6.0)
    np.testing.assert_array_equal(counter.compute(x, every=3), [0, 0, 1, 0, 0, 1])
    assert counter.short == "counter" and [p.name for p in counter.params] == ["every"]


def test_recursive_state_survives_serialization() -> None:
    """Engines store the state between micro-batches: its bytes must restore the user's state."""
    close = DATASETS["goog"]()["close"].to_numpy(float)
    for op, params in ((drawdown, {}), (wilder_atr, {"window": 5}), (ewma, {"alpha": 0.3})):
        kernel = KERNELS[op.op_name()](**op.validate(params, "test"))
        roles = op.data_fields or op.inputs
        cols = {r: close for r in roles}
        _, whole = kernel.step(kernel.init(), cols)
        state, parts = kernel.init(), []
        for a in range(0, len(close), 50):
            state = loads_state(dumps_state(state))
            state, out = kernel.step(state, {r: v[a : a + 50] for r, v in cols.items()})
            parts.append(out)
        for o in op.outputs:
            np.testing.assert_array_equal(np.concatenate([p[o] for p in parts]), whole[o])


# -- identity --------------------------------------------------------------------------------


def test_same_function_dedupes() -> None:
    cb = sb.Cerebro()
    data = cb.add_data(sb.feeds.from_pandas(DATASETS["goog"](), symbol="X"))
    a = cb.add_indicator(efficiency, data["close"], window=20)
    b = cb.add_indicator(efficiency, data["close"], window=20)
    c = cb.add_indicator(efficiency, data["close"])  # the default window: another node
    assert a.id == b.id != c.id and len(cb.graph) == 3
    # decorating the same function again gives the same op
    assert window_indicator(efficiency.__wrapped__) is efficiency
    # a vectorized variant of the same source is another op (other options)
    assert window_indicator(efficiency.__wrapped__, vectorized=True) is not efficiency
    assert efficiency.op_name().startswith("window:efficiency:")
    assert a.node.label.startswith("efficiency_20__close__")


def _make_scaled(k: float) -> Any:
    @window_indicator
    def scaled(x, *, window=3):
        return x.sum() * k

    return scaled


def test_closure_values_are_part_of_the_id() -> None:
    assert _make_scaled(2.0) is _make_scaled(2.0)
    assert _make_scaled(2.0).op_name() != _make_scaled(3.0).op_name()
    np.testing.assert_array_equal(_make_scaled(3.0).compute(np.ones(4)), [np.nan, np.nan, 9, 9])


MODULE = """
import numpy as np
import streambt as sb
from streambt.ops.user import window_indicator, recursive_indicator

@window_indicator
def spread(x, *, window=5):
    {doc}
    return x.max() - x.min(){comment}

@recursive_indicator
class total:
    @staticmethod
    def init():
        return (0.0,)

    @staticmethod
    def step(state, x):
        return (state[0] + x{edit},), state[0] + x
"""

PRINT_IDS = """
import importlib.util, sys
import pandas as pd, streambt as sb
for path in sys.argv[1:]:
    name = path.rsplit("/", 1)[-1].removesuffix(".py")
    spec = importlib.util.spec_from_file_location(name, path)
    mod = sys.modules[name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    df = pd.DataFrame({"ts": pd.date_range("2020", periods=3, tz="UTC"), "open": 1.0,
                       "high": 1.0, "low": 1.0, "close": 1.0, "volume": 1.0})
    cb = sb.Cerebro()
    data = cb.add_data(sb.feeds.from_pandas(df, symbol="X"))
    print(cb.add_indicator(mod.spread, data["close"]).id, cb.add_indicator(mod.total, data["close"]).id)
"""


def test_ids_stable_across_processes_and_changed_by_edits(tmp_path: Path) -> None:
    variants = {
        "base": {"doc": '"""Range."""', "comment": "", "edit": ""},
        # docstrings, comments and formatting are not part of the computation
        "cosmetic": {
            "doc": '"""The range of the window."""',
            "comment": "  # max - min",
            "edit": "",
        },
        "edited": {"doc": '"""Range."""', "comment": " + 0.0", "edit": " * 1.0"},
    }
    paths = []
    for name, fill in variants.items():
        path = tmp_path / f"{name}.py"
        path.write_text(textwrap.dedent(MODULE.format(**fill)))
        paths.append(str(path))
    runs = [
        subprocess.run(
            [sys.executable, "-c", PRINT_IDS, *paths],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parents[2],
        ).stdout.splitlines()
        for _ in range(2)
    ]
    assert runs[0] == runs[1]  # another process, the same ids
    base, cosmetic, edited = (line.split() for line in runs[0])
    assert base == cosmetic
    assert base[0] != edited[0] and base[1] != edited[1]


# -- bad usage --------------------------------------------------------------------------------


def test_window_function_without_the_window_parameter() -> None:
    with pytest.raises(
        InvalidParameterError,
        match=r"has no parameter 'window' for the window length; add it \(e.g. def f\(x, \*, window=20\)\)",
    ):

        @window_indicator
        def f(x, *, k=2):
            return x.sum()

    with pytest.raises(InvalidParameterError, match=r"has no parameter 'length'"):
        window_indicator(window="length")(efficiency.__wrapped__)


def test_window_function_returning_an_array() -> None:
    @window_indicator
    def doubled(x, *, window=4):
        return x * 2

    with pytest.raises(
        GraphError,
        match=r"doubled: the window function must return one number per window, got ndarray of shape \(4,\)",
    ):
        doubled.compute(np.arange(10.0), window=4)
    cb = sb.Cerebro()
    data = cb.add_data(sb.feeds.from_pandas(DATASETS["goog"](), symbol="X"))
    cb.add_indicator(doubled, data["close"], window=4)
    with pytest.raises(GraphError, match="must return one number per window"):
        cb.run()


def test_multi_output_function_returning_one_number() -> None:
    @window_indicator(outputs=("a", "b"))
    def pair(x, *, window=3):
        return x.sum()

    with pytest.raises(GraphError, match=r"must return a tuple of 2 numbers \(a, b\) per window"):
        pair.compute(np.arange(5.0))


def test_vectorized_function_returning_the_wrong_shape() -> None:
    @window_indicator(vectorized=True)
    def flat(x, *, window=3):
        return x.sum()

    with pytest.raises(
        GraphError, match=r"must return one 1-D array of 3 numbers, got float64 array of shape \(\)"
    ):
        flat.compute(np.arange(5.0))


@pytest.mark.parametrize(
    ("source", "error", "match"),
    [
        (
            "def f(x, *args, window=3): return 0.0",
            InvalidParameterError,
            r"declare each input and parameter by name instead of \*args",
        ),
        ("def f(x, window=3, **kw): return 0.0", InvalidParameterError, r"instead of \*\*kw"),
        (
            "def f(*, window=3): return 0.0",
            InvalidParameterError,
            "the function takes no input series",
        ),
        (
            "def f(x, *, window=0): return 0.0",
            InvalidParameterError,
            "the default of window must be a positive integer, got 0",
        ),
        (
            "def f(x, *, window=3, cols=[1]): return 0.0",
            InvalidParameterError,
            r"parameter cols has default \[1\]",
        ),
    ],
)
def test_bad_window_signatures(tmp_path: Path, source: str, error: type, match: str) -> None:
    path = tmp_path / "bad.py"
    path.write_text(source + "\n")
    namespace: dict[str, Any] = {}
    exec(compile(path.read_text(), str(path), "exec"), namespace)  # a real file: getsource works
    with pytest.raises(error, match=match):
        window_indicator(namespace["f"])


def test_bad_decorator_arguments() -> None:
    with pytest.raises(
        InvalidInputError,
        match=r"takes its options by keyword, e.g. @sb.ind.window_indicator\(window='n'\)",
    ):
        window_indicator("n")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="a lambda has no source of its own"):
        window_indicator(lambda x, window=3: 0.0)
    with pytest.raises(InvalidParameterError, match="outputs must be a tuple of distinct names"):
        window_indicator(outputs=("a", "a"))(efficiency.__wrapped__)
    with pytest.raises(
        InvalidParameterError, match=r"from_data=True the inputs are bar fields.*; x is not one"
    ):
        window_indicator(from_data=True)(efficiency.__wrapped__)
    with pytest.raises(InvalidInputError, match="decorates a class with init and step"):
        recursive_indicator(ref_ewma)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="pass both init= and step="):
        recursive_indicator(init=_init_count)


def test_closure_over_an_unhashable_value() -> None:
    lookup = {1: object()}

    with pytest.raises(
        InvalidInputError,
        match=r"uses 'lookup' from an enclosing scope, a dict, which cannot be part of a node id",
    ):

        @window_indicator
        def f(x, *, window=3):
            return float(len(lookup))


def test_recursive_methods_with_self() -> None:
    with pytest.raises(
        InvalidInputError, match=r"step\(self, ...\) takes self.*mark them @staticmethod"
    ):

        @recursive_indicator
        class bad:
            @staticmethod
            def init():
                return (0.0,)

            def step(self, state, x):
                return state, x


def test_recursive_step_errors_at_run() -> None:
    @recursive_indicator
    class no_pair:
        @staticmethod
        def init():
            return (0.0,)

        @staticmethod
        def step(state, x):
            return x

    with pytest.raises(
        GraphError, match=r"no_pair: step\(state, ...\) must return \(state, output\)"
    ):
        no_pair.compute(np.arange(3.0))

    @recursive_indicator
    class grows:
        @staticmethod
        def init():
            return {"a": 0.0}

        @staticmethod
        def step(state, x):
            return {"a": x, "b": x}, x

    with pytest.raises(
        GraphError, match=r"grows: step\(\) must return a state shaped like init\(\)'s"
    ):
        grows.compute(np.arange(3.0))

    @recursive_indicator
    class none_state:
        @staticmethod
        def init():
            return {"prev": None}

        @staticmethod
        def step(state, x):
            return state, x

    with pytest.raises(GraphError, match=r"use math\.nan for 'no value yet'"):
        none_state.compute(np.arange(3.0))


def test_bad_node_parameters_name_the_node_the_parameter_and_the_fix() -> None:
    cb = sb.Cerebro()
    data = cb.add_data(sb.feeds.from_pandas(DATASETS["goog"](), symbol="X"))
    with pytest.raises(
        InvalidParameterError,
        match=r"efficiency\(close, window=0\) at .*: window must be a positive integer, got 0; pass window >= 1, e.g. window=10",
    ):
        cb.add_indicator(efficiency, data["close"], window=0)
    with pytest.raises(
        InvalidParameterError, match=r"unknown parameter 'windw'; efficiency takes window"
    ):
        cb.add_indicator(efficiency, data["close"], windw=5)
    with pytest.raises(InvalidParameterError, match=r"alpha must be a finite number, got 'x'"):
        cb.add_indicator(ewma, data["close"], alpha="x")
    with pytest.raises(
        InvalidInputError, match=r"hl_range takes 2 input\(s\) \(high, low\), got 1"
    ):
        cb.add_indicator(hl_range, data["high"])
    with pytest.raises(InvalidInputError, match="channel reads high, low; pass the data ref"):
        cb.add_indicator(channel, data["high"], data["low"])


@recursive_indicator(jit=True)
class ewma_jit:
    @staticmethod
    def init():
        return (math.nan,)

    @staticmethod
    def step(state, x, alpha=0.1):
        m = x if math.isnan(state[0]) else state[0] + alpha * (x - state[0])
        return (m,), m


@recursive_indicator(from_data=True, jit=True, outputs=("mid", "width"))
class hl_ewma_jit:
    @staticmethod
    def init(alpha=0.5):
        return (math.nan, math.nan, 0)

    @staticmethod
    def step(state, high, low, alpha=0.5):
        mid, width, rows = state
        m, w = (high + low) / 2, high - low
        if rows == 0:
            mid, width = m, w
        else:
            mid, width = mid + alpha * (m - mid), width + alpha * (w - width)
        return (mid, width, rows + 1), (mid, width)


def test_jit_step_equals_the_python_step(frame: pd.DataFrame) -> None:
    close = frame["close"].to_numpy(float)
    forms = run_forms(ewma_jit, frame, ("close",), {"alpha": 0.2})
    _assert_forms_equal(forms, {"value": ref_ewma(close, 0.2)}, "ewma_jit")
    np.testing.assert_array_equal(forms["stream"]["value"], ref_ewma(close, 0.2))
    forms = run_forms(hl_ewma_jit, frame, "data", {"alpha": 0.3})
    h, lo = frame["high"].to_numpy(float), frame["low"].to_numpy(float)
    state, mids, widths = hl_ewma_jit.init_func(alpha=0.3), [], []
    for hi_, lo_ in zip(h.tolist(), lo.tolist(), strict=True):  # the same step, in Python
        state, (mid, width) = hl_ewma_jit.step_func(state, hi_, lo_, 0.3)
        mids.append(mid)
        widths.append(width)
    want = {"mid": np.array(mids), "width": np.array(widths)}
    _assert_forms_equal(forms, want, "hl_ewma_jit")
    np.testing.assert_array_equal(forms["kernels"]["mid"], want["mid"])


def test_jit_needs_positional_parameters_and_a_tuple_state() -> None:
    with pytest.raises(InvalidParameterError, match=r"numba passes step's parameters by position"):

        @recursive_indicator(jit=True)
        class kw_only:
            @staticmethod
            def init():
                return (0.0,)

            @staticmethod
            def step(state, x, *, alpha=0.1):
                return state, x

    @recursive_indicator(jit=True)
    class dict_state:
        @staticmethod
        def init():
            return {"m": 0.0}

        @staticmethod
        def step(state, x):
            return state, x

    with pytest.raises(GraphError, match="with jit=True the state is a flat tuple"):
        dict_state.compute(np.arange(3.0))

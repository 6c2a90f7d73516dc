"""The user's factors (range, trendiness, returns, log returns, z-score) against loop oracles.

Each factor is checked in every form (relational where it has an Ibis
lowering, kernels, stream) against a plain loop that spells out the
definition in docs/factors.md, and against TA-Lib where TA-Lib has the same
quantity (range = MAX - MIN, returns = ROCR - 1). Then: the kernels'
chunk-invariance, compiled == interpreted, indicator-of-indicator inputs
(leading nulls, zeros, sign changes), the documented edge values, and the
parameter errors.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import streambt as sb
import streambt.kernels.factors  # registers the kernels
from streambt.backends import get_backend
from streambt.kernels.base import Kernel
from streambt.kernels.factors import (
    EfficiencyRatioKernel,
    LogReturnsKernel,
    PriceRangeKernel,
    ReturnsKernel,
    RollingZScoreKernel,
)
from streambt.ops.factors import EfficiencyRatio, LogReturns, PriceRange, Returns, RollingZScore
from tests.indicators.harness import (
    FORMS,
    ROWWISE_ONLY,
    assert_forms_match,
    assert_rejects_input,
    assert_rejects_params,
    assert_same,
    bars,
    dataset_fixture,
    gapped_bars,
    run_forms,
    run_graph,
)
from tests.indicators.kernel_checks import (
    assert_bits,
    assert_chunk_invariant,
    assert_compiled_equals_interpreted,
    outputs_by_case,
    step_once,
)
from tests.unit._kernel_helpers import with_nans

talib = pytest.importorskip("talib")

Frame = pd.DataFrame


# -- oracles: the definitions, one loop each -----------------------------------------
def range_ref(high: np.ndarray, low: np.ndarray, n: int) -> np.ndarray:
    out = np.full(high.shape, np.nan)
    for t in range(n - 1, len(high)):
        out[t] = max(high[t - n + 1 : t + 1]) - min(low[t - n + 1 : t + 1])
    return out


def trendiness_ref(x: np.ndarray, n: int) -> np.ndarray:
    out = np.full(x.shape, np.nan)
    for t in range(n, len(x)):
        w = x[t - n : t + 1]
        if np.isnan(w).any():
            continue
        path = math.fsum(abs(w[i] - w[i - 1]) for i in range(1, n + 1))
        out[t] = 0.0 if path == 0.0 else abs(w[-1] - w[0]) / path
    return out


def returns_ref(x: np.ndarray, n: int, log: bool = False) -> np.ndarray:
    out = np.full(x.shape, np.nan)
    for t in range(n, len(x)):
        prev, now = x[t - n], x[t]
        if np.isnan(prev) or np.isnan(now) or prev == 0.0:
            continue
        ratio = now / prev
        if not log:
            out[t] = ratio - 1.0
        elif ratio > 0.0:
            out[t] = math.log(ratio)
    return out


def zscore_ref(x: np.ndarray, n: int) -> np.ndarray:
    out = np.full(x.shape, np.nan)
    for t in range(n - 1, len(x)):
        w = [float(v) for v in x[t - n + 1 : t + 1]]
        if any(math.isnan(v) for v in w) or min(w) == max(w):
            continue
        mean = sum(w) / n
        var = sum((v - mean) * (v - mean) for v in w) / n
        out[t] = (w[-1] - mean) / math.sqrt(var)
    return out


def _short(n: int) -> Frame:
    return gapped_bars().iloc[:n].reset_index(drop=True)


# -- every factor, every form, both datasets -----------------------------------------
# (case id, op, inputs for run_forms, params, oracle(bars) -> values)
Oracle = Callable[[Mapping[str, np.ndarray]], np.ndarray]
CASES: list[tuple[str, Any, Any, dict[str, Any], Oracle]] = [
    *(
        (
            f"range{n}",
            PriceRange,
            "data",
            {"window": n},
            lambda b, n=n: range_ref(b["high"], b["low"], n),
        )
        for n in (1, 10, 20, 30, 50, 100)
    ),
    *(
        (
            f"trendiness{n}",
            EfficiencyRatio,
            ("close",),
            {"window": n},
            lambda b, n=n: trendiness_ref(b["close"], n),
        )
        for n in (1, 10, 30)
    ),
    ("returns", Returns, ("close",), {}, lambda b: returns_ref(b["close"], 1)),
    ("returns5", Returns, ("close",), {"window": 5}, lambda b: returns_ref(b["close"], 5)),
    ("log_returns", LogReturns, ("close",), {}, lambda b: returns_ref(b["close"], 1, log=True)),
    (
        "log_returns20",
        LogReturns,
        ("close",),
        {"window": 20},
        lambda b: returns_ref(b["close"], 20, log=True),
    ),
    *(
        (
            f"zscore{n}",
            RollingZScore,
            ("close",),
            {"window": n},
            lambda b, n=n: zscore_ref(b["close"], n),
        )
        for n in (2, 20, 100)
    ),
    # a window longer than the data: null throughout
    ("range_long", PriceRange, "data", {"window": 5000}, lambda b: np.full(len(b["high"]), np.nan)),
    (
        "zscore_long",
        RollingZScore,
        ("close",),
        {"window": 5000},
        lambda b: np.full(len(b["close"]), np.nan),
    ),
]


dataset = dataset_fixture()


@pytest.mark.parametrize(
    ("op", "inputs", "params", "oracle"), [pytest.param(*c[1:], id=c[0]) for c in CASES]
)
def test_equals_oracle_in_every_form(
    dataset: tuple[str, Frame], op: Any, inputs: Any, params: dict[str, Any], oracle: Oracle
) -> None:
    name, df = dataset
    assert_forms_match(op, df, inputs, params, oracle(bars(df)), f"{op.short}{params} on {name}")


@pytest.mark.parametrize("n", [2, 10, 20, 30, 50, 100])
def test_range_equals_talib_max_minus_min(dataset: tuple[str, Frame], n: int) -> None:
    _, df = dataset
    b = bars(df)
    want = talib.MAX(b["high"], n) - talib.MIN(b["low"], n)
    got = step_once(PriceRangeKernel(window=n), {"high": b["high"], "low": b["low"]})
    # a max and a min are exact: the same bits, not just close
    assert_bits(got, want)


@pytest.mark.parametrize("n", [1, 5, 20])
def test_returns_equal_talib_rocr(dataset: tuple[str, Frame], n: int) -> None:
    _, df = dataset
    c = bars(df)["close"]
    assert_bits(step_once(ReturnsKernel(window=n), {"x": c}), talib.ROCR(c, n) - 1.0)
    got = step_once(LogReturnsKernel(window=n), {"x": c})["value"]
    assert_same(got, np.log(talib.ROCR(c, n)), "log_returns vs ln(ROCR)")


def test_zscore_agrees_with_talib_sma_and_stddev(dataset: tuple[str, Frame]) -> None:
    # TA-Lib's STDDEV uses shifted running sums, not two passes: close, not bitwise.
    _, df = dataset
    c = bars(df)["close"]
    got = step_once(RollingZScoreKernel(window=20), {"x": c})["value"]
    sd = talib.STDDEV(c, 20)
    defined = sd > 0
    want = (c[defined] - talib.SMA(c, 20)[defined]) / sd[defined]
    np.testing.assert_allclose(got[defined], want, rtol=1e-7, atol=1e-9)


# -- documented edge values -----------------------------------------------------------
def test_flat_prices_give_trendiness_zero_and_zscore_null() -> None:
    df = gapped_bars()
    flat = slice(1000, 1020)  # the harness's flat stretch: 20 equal closes
    c = df["close"].to_numpy()
    assert (c[flat] == c[999]).all()
    tr = run_forms(EfficiencyRatio, df, ("close",), {"window": 10})
    z = run_forms(RollingZScore, df, ("close",), {"window": 10})
    # closes 999 .. 1019 are equal: trendiness reads 11 of them from row 1009 on
    inside = slice(1009, 1020)
    for form in FORMS:
        assert (tr[form]["value"][inside] == 0.0).all(), form
        assert np.isnan(z[form]["value"][inside]).all(), form
        # one row later a new close enters: both are numbers again
        assert not np.isnan(z[form]["value"][1020]) and tr[form]["value"][1020] > 0.0, form


def test_edge_values_on_a_small_series() -> None:
    x = np.array([2.0, 2.0, 4.0, 0.0, -2.0, 1.0, 1.0, 1.0])
    cases: list[tuple[Kernel, list[float]]] = [
        (ReturnsKernel(window=1), [np.nan, 0.0, 1.0, -1.0, np.nan, -1.5, 0.0, 0.0]),
        (
            LogReturnsKernel(window=1),
            [np.nan, 0.0, math.log(2.0), np.nan, np.nan, np.nan, 0.0, 0.0],
        ),
        (EfficiencyRatioKernel(window=2), [np.nan, np.nan, 1.0, 1.0 / 3.0, 1.0, 0.2, 1.0, 0.0]),
        (RollingZScoreKernel(window=2), [np.nan, np.nan, 1.0, -1.0, -1.0, 1.0, np.nan, np.nan]),
    ]
    for kernel, want in cases:
        got = step_once(kernel, {"x": x})["value"]
        np.testing.assert_array_equal(got, np.array(want), err_msg=type(kernel).__name__)


def test_range_window_1_is_the_bar_range() -> None:
    df = _short(300)
    got = run_forms(PriceRange, df, "data", {"window": 1})
    for form, outs in got.items():
        assert np.array_equal(outs["value"], (df["high"] - df["low"]).to_numpy()), form


# -- an indicator of an indicator: leading nulls, zeros and sign changes -------------------
def _on_upstream(
    op: Any, params: dict[str, Any], upstream: str
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{form: (upstream values, op values)}`` for ``op`` applied to an RSI or to a cross."""

    def build(cb: sb.Cerebro, data: sb.Ref) -> dict[str, sb.Ref]:
        if upstream == "rsi":
            up = cb.add_indicator(sb.ind.rsi, data["close"], window=14)
        else:  # a cross: -1/0/+1 after a null warm-up, so zeros and sign changes
            fast = cb.add_indicator(sb.ind.sma, data["close"], window=3)
            slow = cb.add_indicator(sb.ind.sma, data["close"], window=8)
            up = cb.add_indicator(sb.sig.cross, fast, slow)
        return {"up": up, "op": cb.add_indicator(op, up, **params)}

    got = run_graph(build, gapped_bars(1500))
    return {form: (values["up"], values["op"]) for form, values in got.items()}


UPSTREAM_CASES = [
    ("trendiness", EfficiencyRatio, {"window": 10}, lambda x: trendiness_ref(x, 10)),
    ("returns", Returns, {"window": 2}, lambda x: returns_ref(x, 2)),
    ("log_returns", LogReturns, {"window": 2}, lambda x: returns_ref(x, 2, log=True)),
    ("zscore", RollingZScore, {"window": 10}, lambda x: zscore_ref(x, 10)),
]


@pytest.mark.parametrize("upstream", ["rsi", "cross"])
@pytest.mark.parametrize(
    ("op", "params", "oracle"), [pytest.param(*c[1:], id=c[0]) for c in UPSTREAM_CASES]
)
def test_indicator_of_indicator(
    op: Any, params: dict[str, Any], oracle: Callable[[np.ndarray], np.ndarray], upstream: str
) -> None:
    df = gapped_bars(1500)
    if upstream == "rsi":
        # the upstream itself is TA-Lib's (14 leading NaNs, which TA-Lib skips)
        expected_up = talib.RSI(df["close"].to_numpy(), 14)
    for form, (up, got) in _on_upstream(op, params, upstream).items():
        if upstream == "rsi":
            assert_same(up, expected_up, f"rsi upstream, {form}")
        else:
            assert np.isin(up[~np.isnan(up)], (-1.0, 0.0, 1.0)).all() and (up == 0.0).any()
        assert_same(got, oracle(up), f"{op.short} of {upstream}, {form}")


# -- the kernels: chunk-invariance and compiled == interpreted -----------------------------
def _series(n: int = 1500) -> np.ndarray:
    x = with_nans(gapped_bars(n, seed=4)["close"].to_numpy(), leading=5, inside=(700,))
    x[900:930] = x[899]  # flat
    x[1100] = 0.0  # a zero denominator
    return x


def _hl(n: int = 1500) -> dict[str, np.ndarray]:
    df = gapped_bars(n, seed=4)
    return {"high": df["high"].to_numpy(), "low": df["low"].to_numpy()}


KERNEL_CASES: list[tuple[str, type[Kernel], dict[str, Any]]] = [
    ("range1", PriceRangeKernel, {"window": 1}),
    ("range20", PriceRangeKernel, {"window": 20}),
    ("range100", PriceRangeKernel, {"window": 100}),
    ("trendiness1", EfficiencyRatioKernel, {"window": 1}),
    ("trendiness14", EfficiencyRatioKernel, {"window": 14}),
    ("returns1", ReturnsKernel, {"window": 1}),
    ("returns7", ReturnsKernel, {"window": 7}),
    ("log_returns3", LogReturnsKernel, {"window": 3}),
    ("zscore2", RollingZScoreKernel, {"window": 2}),
    ("zscore20", RollingZScoreKernel, {"window": 20}),
]


def _cols(kernel: Kernel) -> dict[str, np.ndarray]:
    return _hl() if kernel.inputs == ("high", "low") else {"x": _series()}


def kernel_outputs() -> dict[str, np.ndarray]:
    """Every kernel case fed whole; run with and without the JIT and compared."""
    kernels = ((cid, cls(**params)) for cid, cls, params in KERNEL_CASES)
    return outputs_by_case(kernels, _cols)


@pytest.mark.parametrize(("cls", "params"), [pytest.param(*c[1:], id=c[0]) for c in KERNEL_CASES])
def test_kernel_chunk_invariance(cls: type[Kernel], params: dict[str, Any]) -> None:
    kernel = cls(**params)
    assert_chunk_invariant(kernel, _cols(kernel), seed=11)


def test_kernels_compiled_equal_interpreted(tmp_path: Path) -> None:
    assert_compiled_equals_interpreted(kernel_outputs, tmp_path)


def test_rowwise_stream_through_cerebro() -> None:
    df = _short(250)
    b = bars(df)
    for op, inputs, params, want in [
        (PriceRange, "data", {"window": 20}, range_ref(b["high"], b["low"], 20)),
        (EfficiencyRatio, ("close",), {"window": 10}, trendiness_ref(b["close"], 10)),
        (LogReturns, ("close",), {"window": 3}, returns_ref(b["close"], 3, log=True)),
        (RollingZScore, ("close",), {"window": 20}, zscore_ref(b["close"], 20)),
    ]:
        assert_forms_match(
            op, df, inputs, params, want, f"{op.short} row by row", forms=ROWWISE_ONLY
        )


# -- placement, public names, errors -------------------------------------------------------
@pytest.mark.parametrize(
    ("op", "relational"),
    [
        (PriceRange, True),
        (Returns, True),
        (LogReturns, True),
        (RollingZScore, False),
        (EfficiencyRatio, False),
    ],
)
def test_placement_on_duckdb(op: Any, relational: bool) -> None:
    # fails if the lowering family is not registered in compile/lowering FAMILIES
    assert get_backend("duckdb").support(op, "batch").ok is relational


def test_public_names() -> None:
    assert sb.ind.range is PriceRange
    assert sb.ind.trendiness is EfficiencyRatio
    assert sb.ind.returns is Returns
    assert sb.ind.log_returns is LogReturns
    assert sb.ind.zscore is RollingZScore
    # the slope factor is TA-Lib's LINEARREG_SLOPE, from the statistics family
    assert sb.ind.linearreg_slope.short == "linearreg_slope"


BAD_PARAMS = [
    (PriceRange, "data", {"window": 0}, "window >= 1"),
    (PriceRange, "data", {"window": -5}, "window >= 1"),
    (PriceRange, "data", {"window": 2.5}, "window >= 1"),
    (PriceRange, "data", {}, "window >= 1"),
    (EfficiencyRatio, "close", {"window": 0}, "window >= 1"),
    (Returns, "close", {"window": 0}, "window >= 1"),
    (LogReturns, "close", {"window": -1}, "window >= 1"),
    (Returns, "close", {"window": True}, "window >= 1"),
    (RollingZScore, "close", {"window": 1}, "window >= 2"),
    (RollingZScore, "close", {"window": "20"}, "window >= 2"),
    (RollingZScore, "close", {"window": 20, "ddof": 1}, "zscore takes window"),
]


@pytest.mark.parametrize(("op", "arg", "params", "fix"), BAD_PARAMS)
def test_bad_parameters(op: Any, arg: str, params: dict[str, Any], fix: str) -> None:
    assert_rejects_params(op, arg, params, next(iter(params), "window"), fix)


@pytest.mark.parametrize(
    ("op", "arg", "fix"),
    [
        (PriceRange, "close", "pass the data ref"),
        (EfficiencyRatio, "data", "pass one field"),
        (Returns, "data", "pass one field"),
        (LogReturns, "data", "pass one field"),
        (RollingZScore, "data", "pass one field"),
    ],
)
def test_wrong_input_kind(op: Any, arg: str, fix: str) -> None:
    assert_rejects_input(op, arg, fix, window=10)


@pytest.mark.parametrize(
    ("cls", "value", "minimum"),
    [
        (PriceRangeKernel, 0, 1),
        (EfficiencyRatioKernel, -1, 1),
        (ReturnsKernel, 0, 1),
        (LogReturnsKernel, 0, 1),
        (RollingZScoreKernel, 1, 2),
    ],
)
def test_kernel_rejects_bad_window(cls: type[Kernel], value: int, minimum: int) -> None:
    with pytest.raises(sb.InvalidParameterError, match=rf"window must be an integer >= {minimum}"):
        cls(window=value)

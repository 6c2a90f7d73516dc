"""Volatility indicators (TRANGE, ATR, NATR, BBANDS) equal to TA-Lib in every form.

Every case runs through ``Cerebro.run`` in each form (relational where the op
has an Ibis lowering, kernels, stream) on the real and the gapped bars, and
is compared with TA-Lib (rtol 1e-9, same nulls); the kernels alone give
TA-Lib's exact values. Then: chunk-invariance, compiled == interpreted, an
indicator of an indicator (leading nulls), row-by-row streaming, placement,
public names and parameter errors.

TA-Lib chooses its ATR/NATR machine code by CPU when it loads (an FMA build
and a plain one); the kernels mirror the FMA build, so the exact-value test
of those two needs a CPU with FMA and TA-Lib C 0.8.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import streambt as sb
import streambt.kernels.volatility  # registers the kernels
from streambt.backends import get_backend
from streambt.kernels.base import Kernel
from streambt.kernels.volatility import (
    AverageTrueRangeKernel,
    BollingerBandsKernel,
    NormalizedAverageTrueRangeKernel,
    TrueRangeKernel,
)
from streambt.ops.volatility import (
    AverageTrueRange,
    BollingerBands,
    NormalizedAverageTrueRange,
    TrueRange,
)
from tests.indicators.harness import DATASETS, FORMS, ROWWISE, assert_same, gapped_bars, run_forms
from tests.unit._kernel_helpers import feed, random_bounds

talib = pytest.importorskip("talib")

TALIB_08 = talib.__ta_version__.decode().startswith("0.8.")


def _cpu_has_fma() -> bool:
    try:
        return " fma " in Path("/proc/cpuinfo").read_text() + " "
    except OSError:
        return False


exact_needs_fma = pytest.mark.skipif(
    not (TALIB_08 and _cpu_has_fma()),
    reason="the kernel mirrors TA-Lib 0.8's FMA build, which TA-Lib loads only on a CPU with FMA",
)
exact_needs_08 = pytest.mark.skipif(not TALIB_08, reason="the kernels mirror TA-Lib C 0.8")

Bars = Mapping[str, np.ndarray]
Outputs = dict[str, np.ndarray]


def _bars(df: pd.DataFrame) -> dict[str, np.ndarray]:
    return {f: df[f].to_numpy(np.float64) for f in ("open", "high", "low", "close", "volume")}


def _hlc(fn: Callable[..., np.ndarray], *args: Any) -> Callable[[Bars], Outputs]:
    return lambda b: {"value": fn(b["high"], b["low"], b["close"], *args)}


def _bbands(window: int, nbdev: float) -> Callable[[Bars], Outputs]:
    def ref(b: Bars) -> Outputs:
        up, mid, lo = talib.BBANDS(b["close"], window, nbdev, nbdev, talib.MA_Type.SMA)
        return {"upper": up, "middle": mid, "lower": lo}

    return ref


# (case id, op, run_forms inputs, params, TA-Lib on the bars, needs the FMA build)
CASES: list[tuple[str, Any, Any, dict[str, Any], Callable[[Bars], Outputs], bool]] = [
    ("trange", TrueRange, "data", {}, _hlc(talib.TRANGE), False),
    ("atr", AverageTrueRange, "data", {}, _hlc(talib.ATR, 14), True),
    ("atr1", AverageTrueRange, "data", {"window": 1}, _hlc(talib.ATR, 1), True),
    ("atr2", AverageTrueRange, "data", {"window": 2}, _hlc(talib.ATR, 2), True),
    ("atr50", AverageTrueRange, "data", {"window": 50}, _hlc(talib.ATR, 50), True),
    ("natr", NormalizedAverageTrueRange, "data", {}, _hlc(talib.NATR, 14), True),
    # TA-Lib's NATR(1) is the true range, not normalized
    ("natr1", NormalizedAverageTrueRange, "data", {"window": 1}, _hlc(talib.NATR, 1), True),
    ("natr5", NormalizedAverageTrueRange, "data", {"window": 5}, _hlc(talib.NATR, 5), True),
    ("bbands", BollingerBands, ("close",), {}, _bbands(20, 2.0), False),
    (
        "bbands5_1p5",
        BollingerBands,
        ("close",),
        {"window": 5, "nbdev": 1.5},
        _bbands(5, 1.5),
        False,
    ),
    ("bbands2_1", BollingerBands, ("close",), {"window": 2, "nbdev": 1.0}, _bbands(2, 1.0), False),
    (
        "bbands30_0",
        BollingerBands,
        ("close",),
        {"window": 30, "nbdev": 0.0},
        _bbands(30, 0.0),
        False,
    ),
    # a window longer than the data: null throughout
    ("atr_long", AverageTrueRange, "data", {"window": 5000}, _hlc(talib.ATR, 5000), True),
    ("bbands_long", BollingerBands, ("close",), {"window": 5000}, _bbands(5000, 2.0), False),
]


@pytest.fixture(scope="module", params=list(DATASETS))
def dataset(request: pytest.FixtureRequest) -> tuple[str, pd.DataFrame]:
    return request.param, DATASETS[request.param]()


@pytest.mark.parametrize(
    ("op", "inputs", "params", "ref"), [pytest.param(*c[1:5], id=c[0]) for c in CASES]
)
def test_equals_talib_in_every_form(
    dataset: tuple[str, pd.DataFrame],
    op: Any,
    inputs: Any,
    params: dict[str, Any],
    ref: Callable[[Bars], Outputs],
) -> None:
    name, df = dataset
    want = ref(_bars(df))
    got = run_forms(op, df, inputs, params)
    for form, outs in got.items():
        assert set(outs) == set(op.outputs)
        for output, values in outs.items():
            assert_same(values, want[output], f"{op.short}{params}[{output}] on {name}, {form}")


KERNELS: dict[Any, type[Kernel]] = {
    TrueRange: TrueRangeKernel,
    AverageTrueRange: AverageTrueRangeKernel,
    NormalizedAverageTrueRange: NormalizedAverageTrueRangeKernel,
    BollingerBands: BollingerBandsKernel,
}


def _kernel(op: Any, params: dict[str, Any]) -> Kernel:
    return KERNELS[op](**op.validate(params, op.short))


def _kernel_cols(kernel: Kernel, b: Bars) -> dict[str, np.ndarray]:
    return {"x": b["close"]} if kernel.inputs == ("x",) else {f: b[f] for f in kernel.inputs}


@pytest.mark.parametrize(
    ("op", "params", "ref"),
    [
        pytest.param(c[1], c[3], c[4], id=c[0], marks=exact_needs_fma if c[5] else exact_needs_08)
        for c in CASES
    ],
)
def test_kernel_gives_talibs_exact_values(
    dataset: tuple[str, pd.DataFrame],
    op: Any,
    params: dict[str, Any],
    ref: Callable[[Bars], Outputs],
) -> None:
    _, df = dataset
    b = _bars(df)
    kernel = _kernel(op, params)
    got = kernel.step(kernel.init(), _kernel_cols(kernel, b))[1]
    for output, want in ref(b).items():
        assert np.array_equal(got[output], want, equal_nan=True), output


def test_bbands_are_talibs_sma_and_stddev() -> None:
    # what the installed TA-Lib computes (not the C source's inline sum of squares)
    x = gapped_bars()["close"].to_numpy()
    up, mid, lo = talib.BBANDS(x, 20, 2.0, 2.0, talib.MA_Type.SMA)
    d = talib.STDDEV(x, 20, 1.0) * 2.0
    assert np.array_equal(mid, talib.SMA(x, 20), equal_nan=True)
    assert np.array_equal(up, mid + d, equal_nan=True)
    assert np.array_equal(lo, mid - d, equal_nan=True)


def test_flat_stretch() -> None:
    df = gapped_bars()
    got = run_forms(TrueRange, df, "data", {})
    bb = run_forms(BollingerBands, df, ("close",), {"window": 10})
    for form in FORMS:
        # the harness's bars 1000..1019 are one price: no range, no width
        assert (got[form]["value"][1001:1020] == 0.0).all(), form
        upper, lower = bb[form]["upper"][1010:1020], bb[form]["lower"][1010:1020]
        np.testing.assert_allclose(upper, lower, rtol=1e-12, err_msg=form)


# -- an indicator of an indicator: leading nulls ----------------------------------------
def test_bbands_of_rsi() -> None:
    df = gapped_bars(1500)
    rsi = talib.RSI(df["close"].to_numpy(), 14)
    up, mid, lo = talib.BBANDS(rsi, 10, 2.0, 2.0, talib.MA_Type.SMA)
    want = {"upper": up, "middle": mid, "lower": lo}
    for form, options in FORMS.items():
        cb = sb.Cerebro()
        data = cb.add_data(sb.feeds.from_pandas(df, symbol="X"))
        r = cb.add_indicator(sb.ind.rsi, data["close"], window=14)
        bands = cb.add_indicator(BollingerBands, r, window=10)
        opts = dict(options)
        res = cb.run(mode=opts.pop("mode"), **opts)
        assert_same(res.values(r), rsi, f"rsi, {form}")
        for output in BollingerBands.outputs:
            assert_same(res.values(bands[output]), want[output], f"bbands of rsi {output}, {form}")


def test_row_by_row_stream_through_cerebro() -> None:
    df = gapped_bars().iloc[:200].reset_index(drop=True)
    b = _bars(df)
    for cid, op, inputs, params, ref, _ in CASES:
        if cid.endswith("_long"):
            continue
        got = run_forms(op, df, inputs, params, forms={"rowwise": ROWWISE})["rowwise"]
        for output, want in ref(b).items():
            assert_same(got[output], want, f"{cid}[{output}] row by row")


# -- the kernels: chunk-invariance and compiled == interpreted --------------------------
KERNEL_CASES: list[tuple[str, type[Kernel], dict[str, Any]]] = [
    ("trange", TrueRangeKernel, {}),
    ("atr1", AverageTrueRangeKernel, {"window": 1}),
    ("atr14", AverageTrueRangeKernel, {"window": 14}),
    ("natr1", NormalizedAverageTrueRangeKernel, {"window": 1}),
    ("natr14", NormalizedAverageTrueRangeKernel, {"window": 14}),
    ("bbands2", BollingerBandsKernel, {"window": 2, "nbdev": 2.0}),
    ("bbands20", BollingerBandsKernel, {"window": 20, "nbdev": 1.5}),
]


def _series_cols(kernel: Kernel) -> dict[str, np.ndarray]:
    """Leading NaNs, a NaN inside and a flat stretch."""
    b = _bars(gapped_bars(1500, seed=4))
    for f in b:
        b[f][:5] = np.nan
        b[f][700] = np.nan
    return _kernel_cols(kernel, b)


def kernel_outputs() -> dict[str, np.ndarray]:
    """Every kernel case fed whole, outputs stacked; run with and without the JIT."""
    out = {}
    for cid, cls, params in KERNEL_CASES:
        kernel = cls(**params)
        got = feed(kernel, _series_cols(kernel))
        out[cid] = np.stack([got[o] for o in kernel.outputs])
    return out


def _bits(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float64).view(np.int64)


@pytest.mark.parametrize(("cls", "params"), [pytest.param(*c[1:], id=c[0]) for c in KERNEL_CASES])
def test_kernel_chunk_invariance(cls: type[Kernel], params: dict[str, Any]) -> None:
    kernel = cls(**params)
    cols = _series_cols(kernel)
    n = len(next(iter(cols.values())))
    whole = feed(kernel, cols)
    rowwise = feed(kernel, cols, range(1, n))
    rng = np.random.default_rng(11)
    chunked = [feed(kernel, cols, random_bounds(n, rng, m), roundtrip=True) for m in (3, 40, 400)]
    for output in kernel.outputs:
        for other in (rowwise, *chunked):
            assert np.array_equal(_bits(other[output]), _bits(whole[output])), output


def test_kernels_compiled_equal_interpreted(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "STREAMBT_DISABLE_JIT": "1"}
    code = (
        "import sys, numpy as np; from tests.indicators import test_volatility as m; "
        "np.savez(sys.argv[1], **m.kernel_outputs())"
    )
    subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "py.npz")],
        cwd=root,
        env=env,
        check=True,
        timeout=300,
    )
    interpreted = np.load(tmp_path / "py.npz")
    for cid, jitted in kernel_outputs().items():
        assert np.array_equal(_bits(interpreted[cid]), _bits(jitted)), cid


# -- placement, public names, errors ----------------------------------------------------
@pytest.mark.parametrize(
    ("op", "relational"),
    [
        (TrueRange, True),
        (BollingerBands, True),
        (AverageTrueRange, False),
        (NormalizedAverageTrueRange, False),
    ],
)
def test_placement_on_duckdb(op: Any, relational: bool) -> None:
    assert get_backend("duckdb").support(op, "batch").ok is relational


def test_public_names() -> None:
    assert sb.ind.trange is TrueRange
    assert sb.ind.atr is AverageTrueRange
    assert sb.ind.natr is NormalizedAverageTrueRange
    assert sb.ind.bbands is BollingerBands


def test_outputs_by_name() -> None:
    df = gapped_bars().iloc[:100]
    cb = sb.Cerebro()
    data = cb.add_data(sb.feeds.from_pandas(df, symbol="X"))
    bb = cb.add_indicator(BollingerBands, data["close"], window=5)
    res = cb.run()
    up, mid, lo = (res.values(bb[o]) for o in ("upper", "middle", "lower"))
    assert (up[4:] >= mid[4:]).all() and (mid[4:] >= lo[4:]).all()
    with pytest.raises(sb.StreambtError, match="upper, middle, lower"):
        bb["width"]


BAD_PARAMS = [
    (AverageTrueRange, "data", {"window": 0}, "window >= 1"),
    (AverageTrueRange, "data", {"window": -3}, "window >= 1"),
    (AverageTrueRange, "data", {"window": 2.5}, "window >= 1"),
    (AverageTrueRange, "data", {"window": True}, "window >= 1"),
    (AverageTrueRange, "data", {"window": 14, "nbdev": 2}, "atr takes window"),
    (NormalizedAverageTrueRange, "data", {"window": 0}, "window >= 1"),
    (TrueRange, "data", {"window": 14}, "trange takes no parameters"),
    (BollingerBands, "close", {"window": 1}, "window >= 2"),
    (BollingerBands, "close", {"window": -20}, "window >= 2"),
    (BollingerBands, "close", {"window": "20"}, "window >= 2"),
    (BollingerBands, "close", {"window": 20, "nbdev": float("nan")}, "nbdev=2.0"),
    (BollingerBands, "close", {"window": 20, "nbdev": "2"}, "nbdev=2.0"),
    (BollingerBands, "close", {"window": 20, "matype": 1}, "bbands takes nbdev, window"),
]


@pytest.mark.parametrize(("op", "arg", "params", "fix"), BAD_PARAMS)
def test_bad_parameters(op: Any, arg: str, params: dict[str, Any], fix: str) -> None:
    cb = sb.Cerebro()
    data = cb.add_data(sb.feeds.from_pandas(gapped_bars().iloc[:50], symbol="X"))
    with pytest.raises(sb.InvalidParameterError) as err:
        cb.add_indicator(op, data if arg == "data" else data[arg], **params)
    msg = str(err.value)
    assert msg.startswith(f"{op.short}("), msg  # the node
    assert list(params)[-1] in msg and fix in msg, msg  # the parameter and the fix


@pytest.mark.parametrize(
    ("op", "arg", "fix"),
    [
        (AverageTrueRange, "close", "pass the data ref"),
        (TrueRange, "close", "pass the data ref"),
        (BollingerBands, "data", "pass one field"),
    ],
)
def test_wrong_input_kind(op: Any, arg: str, fix: str) -> None:
    cb = sb.Cerebro()
    data = cb.add_data(sb.feeds.from_pandas(gapped_bars().iloc[:50], symbol="X"))
    with pytest.raises(sb.InvalidInputError, match=rf"^{op.short}\(.*{fix}"):
        cb.add_indicator(op, data if arg == "data" else data[arg])


def test_wrong_input_kind_indicator_for_data() -> None:
    cb = sb.Cerebro()
    data = cb.add_data(sb.feeds.from_pandas(gapped_bars().iloc[:50], symbol="X"))
    sma = cb.add_indicator(sb.ind.sma, data["close"], window=5)
    with pytest.raises(sb.InvalidInputError, match=r"^atr\(.*pass the data ref"):
        cb.add_indicator(AverageTrueRange, sma)


@pytest.mark.parametrize(
    ("cls", "params", "name", "minimum"),
    [
        (AverageTrueRangeKernel, {"window": 0}, "window", 1),
        (NormalizedAverageTrueRangeKernel, {"window": -1}, "window", 1),
        (BollingerBandsKernel, {"window": 1}, "window", 2),
    ],
)
def test_kernel_rejects_bad_window(
    cls: type[Kernel], params: dict[str, Any], name: str, minimum: int
) -> None:
    with pytest.raises(sb.InvalidParameterError, match=rf"{name} must be an integer >= {minimum}"):
        cls(**params)

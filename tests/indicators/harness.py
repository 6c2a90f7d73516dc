"""One place to run an indicator through every form streambt has and compare.

Forms: ``relational`` (DuckDB batch, the Ibis lowering where the op has one), ``polars``
(its native lowering where it has one),
``kernels`` (DuckDB batch, every node a kernel), ``stream`` (the embedded
stream mode in micro-batches of 97 rows) and ``rowwise`` (micro-batches of one
row, for short inputs). Each form goes through ``Cerebro.run``, so the tests
exercise the public path, not just the kernel class.

A test module keeps its tables of cases and calls these: :func:`dataset_fixture`
and :func:`bars` (the data), :func:`assert_forms_match` (an op in every form
against an oracle; ``forms=ROWWISE_ONLY`` row by row), :func:`run_graph` (any
graph in every form), :func:`assert_rejects_params` and
:func:`assert_rejects_input` (the errors, on a :func:`small_graph`). The
kernels' own checks are in :mod:`tests.indicators.kernel_checks`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pytest

import streambt as sb
from tests.helpers import goog_frame

FORMS: dict[str, dict[str, Any]] = {
    "relational": {"mode": "batch"},
    "kernels": {"mode": "batch", "placement": "kernels"},
    "stream": {"mode": "stream", "micro_batch": 97},
    "polars": {"mode": "batch", "backend": "polars"},
}
ROWWISE = {"mode": "stream", "micro_batch": 1}
ROWWISE_ONLY = {"rowwise": ROWWISE}
BAR_FIELDS = ("open", "high", "low", "close", "volume")


def gapped_bars(n: int = 3000, seed: int = 9) -> pd.DataFrame:
    """Random-walk OHLCV with price gaps (jumps of +-10 % every ~50 bars) and flat stretches."""
    rng = np.random.default_rng(seed)
    ret = rng.normal(0, 0.01, n)
    ret[rng.random(n) < 0.02] += rng.choice(
        [-0.1, 0.1], size=int((rng.random(n) < 0.02).sum()) or 1
    )[0]
    close = 50 * np.exp(np.cumsum(ret))
    close[1000:1020] = close[999]  # a flat stretch: zero ranges, zero variance
    open_ = np.r_[close[0], close[:-1]] * np.exp(rng.normal(0, 0.002, n))
    open_[1000:1020] = close[999]
    hi = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.004, n)))
    lo = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.004, n)))
    hi[1000:1020] = lo[1000:1020] = close[999]
    vol = rng.integers(100, 10_000, n).astype(float)
    ts = pd.date_range("2015-01-01", periods=n, freq="1D", tz="UTC")
    return pd.DataFrame(
        {"ts": ts, "open": open_, "high": hi, "low": lo, "close": close, "volume": vol}
    )


DATASETS = {"goog": goog_frame, "gaps": gapped_bars}


def dataset_fixture(datasets: Mapping[str, Callable[[], pd.DataFrame]] = DATASETS) -> Any:
    """A module-scoped fixture over ``datasets``, giving ``(name, frame)``.

    Examples
    --------
    >>> dataset = dataset_fixture()  # doctest: +SKIP
    """

    @pytest.fixture(scope="module", params=list(datasets))
    def dataset(request: pytest.FixtureRequest) -> tuple[str, pd.DataFrame]:
        return request.param, datasets[request.param]()

    return dataset


def bars(df: pd.DataFrame) -> dict[str, np.ndarray]:
    """The OHLCV columns of ``df`` as float64 arrays."""
    return {f: df[f].to_numpy(np.float64) for f in BAR_FIELDS}


def run_graph(
    build: Callable[[sb.Cerebro, sb.Ref], Mapping[str, sb.Ref]],
    df: pd.DataFrame,
    forms: Mapping[str, Mapping[str, Any]] = FORMS,
) -> dict[str, dict[str, np.ndarray]]:
    """``{form: {name: values}}`` of the refs ``build(cb, data)`` adds to a graph over ``df``."""
    out: dict[str, dict[str, np.ndarray]] = {}
    for form, options in forms.items():
        cb = sb.Cerebro()
        refs = build(cb, cb.add_data(sb.feeds.from_pandas(df, symbol="X")))
        opts = dict(options)
        res = cb.run(mode=opts.pop("mode"), **opts)
        out[form] = {name: res.values(ref) for name, ref in refs.items()}
    return out


def run_forms(
    op: Any,
    df: pd.DataFrame,
    inputs: Sequence[str] | str = ("close",),
    params: Mapping[str, Any] | None = None,
    forms: Mapping[str, Mapping[str, Any]] = FORMS,
) -> dict[str, dict[str, np.ndarray]]:
    """``{form: {output: values}}`` for ``op`` on ``df``.

    ``inputs`` names bar fields ("close", or two for a two-input op) or is
    ``"data"`` for ops that read several fields from the data ref.
    """

    def build(cb: sb.Cerebro, data: sb.Ref) -> dict[str, sb.Ref]:
        args = [data] if inputs == "data" else [data[f] for f in inputs]
        ref = cb.add_indicator(op, *args, **(params or {}))
        outputs = ref.node.op.outputs
        return {"value": ref} if len(outputs) == 1 else {o: ref[o] for o in outputs}

    return run_graph(build, df, forms)


def assert_forms_match(
    op: Any,
    df: pd.DataFrame,
    inputs: Sequence[str] | str,
    params: Mapping[str, Any],
    want: Mapping[str, np.ndarray] | np.ndarray,
    what: str,
    *,
    exact: bool = False,
    inexact_forms: Collection[str] = (),
    forms: Mapping[str, Mapping[str, Any]] = FORMS,
) -> None:
    """``op`` on ``df`` in every form has ``want``'s outputs (one array: ``value``), each
    within 1e-9 with the same nulls; with ``exact`` the same values too, but in
    ``inexact_forms``."""
    expected = want if isinstance(want, Mapping) else {"value": want}
    for form, outs in run_forms(op, df, inputs, params, forms).items():
        assert set(outs) == set(expected), (what, form)
        for output, got in outs.items():
            assert_same(got, expected[output], f"{what}[{output}], {form}")
            if exact and form not in inexact_forms:
                assert np.array_equal(got, expected[output], equal_nan=True), (what, form, output)


def small_graph(rows: int = 50) -> tuple[sb.Cerebro, sb.Ref]:
    """A graph over ``rows`` gapped bars of symbol X, and its data ref: what error tests build on."""
    cb = sb.Cerebro()
    return cb, cb.add_data(sb.feeds.from_pandas(gapped_bars().iloc[:rows], symbol="X"))


def _input(arg: str) -> tuple[sb.Cerebro, sb.Ref]:
    """A small graph and the input ``arg`` names: ``"data"``, a field, or ``"sma"``, an SMA(5)."""
    cb, data = small_graph()
    if arg == "data":
        return cb, data
    if arg == "sma":
        return cb, cb.add_indicator(sb.ind.sma, data["close"], window=5)
    return cb, data[arg]


def assert_rejects_params(
    op: Any, arg: str, params: Mapping[str, Any], name: str, fix: str
) -> None:
    """``op`` added on ``arg`` (see :func:`_input`) with ``params`` raises a message naming
    the node, then the parameter, then the fix."""
    cb, given = _input(arg)
    with pytest.raises(sb.InvalidParameterError) as err:
        cb.add_indicator(op, given, **params)
    msg = str(err.value)
    pattern = rf"{re.escape(op.short)}\(.*{re.escape(name)}.*{re.escape(fix)}"
    assert re.match(pattern, msg, re.DOTALL), msg


def assert_rejects_input(op: Any, arg: str, fix: str, **params: Any) -> None:
    """``op`` added on the wrong kind of input ``arg`` (see :func:`_input`) raises a message
    naming the node, then the fix (a regular expression)."""
    cb, given = _input(arg)
    with pytest.raises(sb.InvalidInputError, match=rf"^{re.escape(op.short)}\(.*{fix}"):
        cb.add_indicator(op, given, **params)


def assert_same(got: np.ndarray, want: np.ndarray, what: str, rtol: float = 1e-9) -> None:
    """Same null mask and values within ``rtol`` (TA-Lib's NaN is streambt's null)."""
    got, want = np.asarray(got, float), np.asarray(want, float)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    gn, wn = np.isnan(got), np.isnan(want)
    if not np.array_equal(gn, wn):
        first = int(np.flatnonzero(gn != wn)[0])
        raise AssertionError(
            f"{what}: null masks differ first at row {first}: got {got[first]}, want {want[first]}"
        )
    np.testing.assert_allclose(got[~gn], want[~wn], rtol=rtol, atol=0, err_msg=what)

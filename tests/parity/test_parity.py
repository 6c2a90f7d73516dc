"""Every case on every engine equals the DuckDB batch reference (DESIGN.md section 5)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import streambt as sb

from .cases import CASES
from .engines import ENGINES, EXPECTED_FAILURES, REFERENCE, Engine

RTOL = 1e-9


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    """Two symbols with different lengths, in one long frame."""
    a = sb.feeds.synthetic_bars(700, seed=11).assign(symbol="AAA")
    b = sb.feeds.synthetic_bars(450, seed=12, start="2020-03-01", price=40.0).assign(symbol="BBB")
    return pd.concat([a, b], ignore_index=True)


def _run(case: str, engine: Engine, frame: pd.DataFrame) -> tuple[sb.Result, dict[str, sb.Ref]]:
    cb = sb.Cerebro(cash=10_000, commission=0.001)
    refs = CASES[case](cb, frame)
    return cb.run(backend=engine.backend, mode=engine.mode, **engine.options), refs


_reference_cache: dict[str, tuple[sb.Result, dict[str, sb.Ref]]] = {}


def _reference(case: str, frame: pd.DataFrame) -> tuple[sb.Result, dict[str, sb.Ref]]:
    if case not in _reference_cache:
        _reference_cache[case] = _run(case, REFERENCE, frame)
    return _reference_cache[case]


def assert_tables_equal(got: pa.Table, want: pa.Table, what: str) -> None:
    assert got.schema == want.schema, (
        f"{what}: schema differs:\n{got.schema}\nreference:\n{want.schema}"
    )
    assert got.num_rows == want.num_rows, (
        f"{what}: {got.num_rows} rows, reference has {want.num_rows}"
    )
    for name in want.column_names:
        g, w = got.column(name), want.column(name)
        if pa.types.is_floating(w.type):
            gv = g.to_numpy(zero_copy_only=False).astype(float)
            wv = w.to_numpy(zero_copy_only=False).astype(float)
            np.testing.assert_array_equal(
                np.isnan(gv), np.isnan(wv), err_msg=f"{what}.{name}: null masks differ"
            )
            np.testing.assert_allclose(gv, wv, rtol=RTOL, atol=1e-12, err_msg=f"{what}.{name}")
        else:
            assert g.to_pylist() == w.to_pylist(), f"{what}.{name} differs"


def _params() -> list[object]:
    out = []
    for engine in ENGINES:
        for case in CASES:
            marks = []
            if (engine.name, case) in EXPECTED_FAILURES:
                reason, exc = EXPECTED_FAILURES[(engine.name, case)]
                marks.append(pytest.mark.xfail(reason=reason, raises=exc, strict=True))
            out.append(pytest.param(engine, case, id=f"{engine.name}-{case}", marks=marks))
    return out


@pytest.mark.parametrize(("engine", "case"), _params())
def test_engine_matches_reference(engine: Engine, case: str, frame: pd.DataFrame) -> None:
    want, refs = _reference(case, frame)
    got, _ = _run(case, engine, frame)
    tables = ("factors", "orders", "order_events", "fills", "trades", "equity", "positions")
    for table in (*tables, "metrics"):
        assert_tables_equal(
            getattr(got, table), getattr(want, table), f"{engine.name}/{case}/{table}"
        )
    assert want.trades.num_rows > 0 or case == "chained_indicators"
    if want.cells:  # a sweep: the same cells, ranked the same
        assert got.cells == want.cells
        assert_tables_equal(got.ranking(), want.ranking(), f"{engine.name}/{case}/ranking")
    for name, ref in refs.items():
        for symbol in ("AAA", "BBB"):
            np.testing.assert_allclose(
                got.values(ref, symbol), want.values(ref, symbol), rtol=RTOL, err_msg=name
            )

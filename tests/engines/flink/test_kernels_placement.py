"""The bundled pipeline (``placement="kernels"``: every node a kernel, bars in per-symbol
bundles) against the DuckDB reference, on every parity case the Flink backend runs."""

from __future__ import annotations

import pandas as pd
import pytest

import streambt as sb
from streambt.errors import UnsupportedError

from ...parity.cases import CASES
from ...parity.test_parity import assert_tables_equal

TABLES = ("factors", "orders", "fills", "trades", "equity", "positions", "metrics")


def _unsupported(case: str) -> bool:
    """Cases Flink refuses (the portfolio broker is hosted by the local engines only)."""
    cb = sb.Cerebro()
    CASES[case](cb, _frame())
    try:
        cb.plan("flink", "stream", placement="kernels")
    except UnsupportedError:
        return True
    return False


def _frame() -> pd.DataFrame:
    a = sb.feeds.synthetic_bars(700, seed=11).assign(symbol="AAA")
    b = sb.feeds.synthetic_bars(450, seed=12, start="2020-03-01", price=40.0).assign(symbol="BBB")
    return pd.concat([a, b], ignore_index=True)


@pytest.mark.parametrize("case", [c for c in CASES if not _unsupported(c)])
def test_kernels_placement_matches_reference(case: str, flink_env: object) -> None:
    frame = _frame()
    ref = sb.Cerebro(cash=10_000, commission=0.001)
    CASES[case](ref, frame)
    want = ref.run()
    cb = sb.Cerebro(cash=10_000, commission=0.001)
    CASES[case](cb, frame)
    # parallelism 2: the bundled operator still runs once (one key), the sinks twice
    got = cb.run(backend="flink", mode="stream", placement="kernels", parallelism=2)
    for table in TABLES:
        assert_tables_equal(getattr(got, table), getattr(want, table), f"{case}/{table}")

"""Result tables built on first read, and the Arrow helpers that build result columns."""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import streambt as sb
from streambt.backends import event_tables
from streambt.backends.kernel_host import LazyTables
from streambt.io.resample import run_ends
from streambt.io.schema import CONSTANT_BLOCK, constant_strings, float_array
from streambt.result import Result


def _empty() -> pa.Table:
    return pa.table({"x": pa.array([], pa.int64())})


def test_a_table_given_as_a_builder_is_built_once_on_first_read() -> None:
    calls: list[str] = []

    def build(name: str) -> pa.Table:
        calls.append(name)
        return pa.table({"x": [1, 2]})

    res = Result(
        factors=_empty(),
        orders=lambda: build("orders"),
        fills=lambda: build("fills"),
        trades=_empty(),
        equity=_empty(),
        metrics=_empty(),
    )
    assert calls == []
    assert res.orders.num_rows == 2 and res.orders.num_rows == 2
    assert calls == ["orders"]  # fills never read, never built
    res.fills = _empty()  # a table may still be replaced
    assert res.fills.num_rows == 0 and calls == ["orders"]


def test_lazy_tables_build_each_table_once() -> None:
    built: list[str] = []

    def build(name: str) -> pa.Table:
        built.append(name)
        return pa.table({"n": [name]})

    tables = LazyTables({n: partial(build, n) for n in "ab"})
    assert list(tables) == ["a", "b"] and len(tables) == 2
    assert tables.later("a")() is tables["a"]
    assert built == ["a"]
    with pytest.raises(KeyError):
        tables.later("c")


def test_a_portfolio_run_decodes_only_the_event_tables_it_reads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    decoded: list[str] = []
    original = event_tables.portfolio_event_table

    def counting(table: str, *args: Any) -> pa.Table:
        decoded.append(table)
        return original(table, *args)

    monkeypatch.setattr("streambt.backends.portfolio_host.portfolio_event_table", counting)
    bars = sb.feeds.synthetic_bars(600, seed=3)
    cb = sb.Cerebro(cash=10_000, commission=0.001)
    d = cb.add_data(sb.feeds.from_pandas(bars, symbol="X"))
    fast = cb.add_indicator(sb.ind.sma, d["close"], window=5)
    slow = cb.add_indicator(sb.ind.sma, d["close"], window=20)
    cb.add_strat(cb.add_indicator(sb.sig.cross, fast, slow), sb.alloc.all_in(), stop_loss=0.02)
    res = cb.run(placement="kernels")
    assert res.trades.num_rows > 0
    assert decoded == ["trades"]
    orders, history = res.orders, res.order_events
    assert decoded == ["trades", "orders", "order_events"]
    # every order's history starts NEW and each order id has one row in orders
    assert sorted(set(history.column("order_id").to_pylist())) == sorted(
        orders.column("order_id").to_pylist()
    )


@pytest.mark.parametrize("n", [0, 1, CONSTANT_BLOCK - 1, CONSTANT_BLOCK, 2 * CONSTANT_BLOCK + 3])
def test_constant_strings_hold_one_block(n: int) -> None:
    col = constant_strings("sma_x", n)
    assert len(col) == n and col.type == pa.string()
    assert col.to_pylist() == ["sma_x"] * n
    buffers = {c.buffers()[2].address for c in col.chunks if len(c)}
    assert len(buffers) <= 1  # every chunk refers to the same characters


@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 1000])
def test_float_array_marks_nan_as_null_like_pandas(n: int) -> None:
    rng = np.random.default_rng(n)
    values = rng.normal(size=n)
    values[rng.random(n) < 0.3] = np.nan
    got = float_array(values)
    assert got.equals(pa.array(values, from_pandas=True))
    assert got.null_count == int(np.isnan(values).sum())


@pytest.mark.parametrize(
    ("values", "ends"),
    [
        (["ab"] * 5, [5]),
        (["ab", "ab", "ba"], [2, 3]),  # same width, other characters
        (["ab", "abc"], [1, 2]),
        (["", ""], [2]),
    ],
)
def test_run_ends_of_string_columns(values: list[str], ends: list[int]) -> None:
    assert np.array_equal(run_ends(pa.array(values)), ends)  # type: ignore[arg-type]
    sliced = pa.array(["zz", *values]).slice(1)  # offsets not starting at 0
    assert np.array_equal(run_ends(sliced), ends)  # type: ignore[arg-type]


def test_loaded_symbols_come_from_the_runs_of_the_symbol_column() -> None:
    frames = [
        sb.feeds.synthetic_bars(50, seed=i).assign(symbol=s) for i, s in enumerate(["B", "A"])
    ]
    cb = sb.Cerebro(cash=1_000)
    cb.add_data(sb.feeds.from_pandas(pd.concat(frames, ignore_index=True)))
    _, universes = cb.load_bars()
    assert list(universes.values()) == [frozenset({"A", "B"})]

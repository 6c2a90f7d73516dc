"""SignalStrategyKernel: hand-checked tables, properties, chunk invariance, jit parity.

Every rule of docs/simulator.md has a test here. The tables are computed by
hand in the comments; ts are small integers (microseconds) to keep them legible.
"""

from __future__ import annotations

import itertools
import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streambt.errors import DataError, InvalidParameterError
from streambt.kernels import _jit
from streambt.kernels.base import KERNELS, dumps_state, loads_state
from streambt.sim import OrderStatus, SignalStrategyKernel, all_in, fixed, target_percent
from streambt.sim.allocation import Allocation
from streambt.sim.events import (
    EVENT_COLUMNS,
    NO_TS,
    ORDER_TRANSITIONS,
    arrow_schema,
    concat_events,
)
from streambt.sim.signal_strategy import _cost, _entry_units

NAN = np.nan
F = int(OrderStatus.FILLED)
A = int(OrderStatus.ACCEPTED)
R = int(OrderStatus.REJECTED)
X = NO_TS  # filled_ts of an order that never filled


def make_bars(rows: list[tuple[float, float, float, float]]) -> dict[str, np.ndarray]:
    """Bars from (ts, open, close, signal) rows; high/low are unused by v1."""
    a = np.array(rows, dtype=np.float64).reshape(-1, 4)
    o, c = a[:, 1], a[:, 2]
    return {
        "ts": a[:, 0].astype(np.int64),
        "open": o,
        "high": np.maximum(o, c),
        "low": np.minimum(o, c),
        "close": c,
        "signal": a[:, 3],
    }


def make_kernel(alloc: Allocation, cash: float, commission: float = 0.0) -> SignalStrategyKernel:
    return SignalStrategyKernel(cash=cash, commission=commission, **alloc.to_params())


def run(
    kernel: SignalStrategyKernel,
    bars: dict[str, np.ndarray],
    cuts: list[int] | tuple[int, ...] = (),
    roundtrip: bool = False,
) -> tuple[dict[str, np.ndarray], dict[str, Any], dict[str, Any], dict[str, np.ndarray]]:
    """Feed ``bars`` in chunks split at ``cuts``; return rows, step events, finish events, state."""
    n = len(bars["ts"])
    bounds = [0, *cuts, n]
    state = kernel.init()
    rows, events = [], []
    for a, b in itertools.pairwise(bounds):
        if roundtrip:
            state = loads_state(dumps_state(state))
        state, r, e = kernel.step_events(state, {k: v[a:b] for k, v in bars.items()})
        rows.append(r)
        events.append(e)
    out = {k: np.concatenate([r[k] for r in rows]) for k in kernel.outputs}
    return out, concat_events(events), kernel.finish(state), state


def check_rows(rows: dict[str, np.ndarray], expected: list[tuple[float, float, float]]) -> None:
    want = np.array(expected, dtype=np.float64)
    for j, name in enumerate(("cash", "position", "equity")):
        np.testing.assert_allclose(rows[name], want[:, j], rtol=1e-12, atol=1e-9, err_msg=name)


def check_table(events: dict[str, Any], table: str, expected: list[tuple[Any, ...]]) -> None:
    got = events[table]
    assert list(got) == list(EVENT_COLUMNS[table])
    for j, (name, dtype) in enumerate(EVENT_COLUMNS[table].items()):
        assert got[name].dtype == dtype, (table, name)
        want = np.array([row[j] for row in expected], dtype=dtype)
        if dtype.kind == "f":
            np.testing.assert_allclose(got[name], want, rtol=1e-12, atol=1e-9, err_msg=name)
        else:
            np.testing.assert_array_equal(got[name], want, err_msg=f"{table}.{name}")


def assert_same_events(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert a.keys() == b.keys()
    for table in a:
        for name in EVENT_COLUMNS[table]:
            assert a[table][name].dtype == b[table][name].dtype
            np.testing.assert_array_equal(a[table][name], b[table][name], err_msg=name)


# --- hand-checked tables ----------------------------------------------------

# orders: (order_id, created_ts, side, size, status, reason, filled_ts, fill_price, commission)
# fills:  (order_id, ts, side, size, price, commission)
# trades: (trade_id, side, size, entry_ts, entry_price, exit_ts, exit_price, pnl, commission,
#          entry_order_id, exit_order_id, bars_held)

ALL_IN_LONG = make_bars(
    [
        (100, 10, 10, NAN),
        (200, 10, 11, 1),  # buy decided at this close -> order 1
        (300, 12, 13, NAN),  # fills at open 12
        (400, 14, 15, 1),  # already long: nothing (no pyramiding)
        (500, 15, 14, -1),  # sell decided -> order 2
        (600, 16, 16, -1),  # fills at open 16; -1 while flat and long_only: nothing
    ]
)


def test_all_in_long_entry_and_exit() -> None:
    # cash 1000, commission 1%.
    # bar 2: units = floor(1000 / (12 * 1.01)) = floor(82.5) = 82; value 984, fee 9.84,
    #        cash = 1000 - 993.84 = 6.16; equity = 6.16 + 82 * 13 = 1072.16
    # bar 3: equity 6.16 + 82 * 15 = 1236.16; bar 4: 6.16 + 82 * 14 = 1154.16
    # bar 5: sell 82 @ 16: value 1312, fee 13.12, cash = 6.16 + 1298.88 = 1305.04
    #        pnl = (16 - 12) * 82 - 9.84 - 13.12 = 305.04 (= 1305.04 - 1000)
    rows, ev, fin, _ = run(make_kernel(all_in(), 1000.0, 0.01), ALL_IN_LONG)
    check_rows(
        rows,
        [
            (1000, 0, 1000),
            (1000, 0, 1000),
            (6.16, 82, 1072.16),
            (6.16, 82, 1236.16),
            (6.16, 82, 1154.16),
            (1305.04, 0, 1305.04),
        ],
    )
    check_table(
        ev,
        "orders",
        [(1, 200, 1, 82, F, 0, 300, 12, 9.84), (2, 500, -1, 82, F, 0, 600, 16, 13.12)],
    )
    check_table(ev, "fills", [(1, 300, 1, 82, 12, 9.84), (2, 600, -1, 82, 16, 13.12)])
    check_table(ev, "trades", [(1, 1, 82, 300, 12, 600, 16, 305.04, 22.96, 1, 2, 3)])
    check_table(fin, "orders", [])


def test_order_decided_on_a_chunks_last_row_fills_on_the_next_chunks_first_row() -> None:
    k = make_kernel(all_in(), 1000.0, 0.01)
    state, _, first = k.step_events(k.init(), {c: v[:2] for c, v in ALL_IN_LONG.items()})
    check_table(first, "orders", [])
    assert state["pending_entry_id"][0] == 1
    state, rows, second = k.step_events(state, {c: v[2:] for c, v in ALL_IN_LONG.items()})
    check_table(second, "fills", [(1, 300, 1, 82, 12, 9.84), (2, 600, -1, 82, 16, 13.12)])
    assert rows["position"][0] == 82


def test_reversal_long_to_short_and_back() -> None:
    # cash 1000, commission 1%, long_only=False.
    # bar 1: buy floor(1000 / 10.1) = 99 @ 10: fee 9.9, cash 0.1; equity 0.1 + 99 * 12 = 1188.1
    # bar 2: -1 while long -> close (order 2) and short entry (order 3); equity 0.1 + 99 * 11
    # bar 3: close first: sell 99 @ 11, fee 10.89, cash 0.1 + 1078.11 = 1078.21
    #        trade 1 pnl = 99 - 9.9 - 10.89 = 78.21; then short floor(1078.21 / 11.11) = 97:
    #        value 1067, fee 10.67, cash 1078.21 + 1056.33 = 2134.54; equity 2134.54 - 970
    # bar 4: +1 while short -> cover (order 4) and long (order 5); equity 2134.54 - 97 * 9
    # bar 5: cover 97 @ 9, fee 8.73, cash 2134.54 - 881.73 = 1252.81
    #        trade 2 pnl = 2 * 97 - 10.67 - 8.73 = 174.6; then long floor(1252.81 / 9.09) = 137:
    #        value 1233, fee 12.33, cash 7.48; equity 7.48 + 137 * 9 = 1240.48
    bars = make_bars(
        [
            (100, 10, 10, 1),
            (200, 10, 12, NAN),
            (300, 12, 11, -1),
            (400, 11, 10, NAN),
            (500, 10, 9, 1),
            (600, 9, 9, NAN),
        ]
    )
    rows, ev, fin, _ = run(make_kernel(all_in(long_only=False), 1000.0, 0.01), bars)
    check_rows(
        rows,
        [
            (1000, 0, 1000),
            (0.1, 99, 1188.1),
            (0.1, 99, 1089.1),
            (2134.54, -97, 1164.54),
            (2134.54, -97, 1261.54),
            (7.48, 137, 1240.48),
        ],
    )
    check_table(
        ev,
        "orders",
        [
            (1, 100, 1, 99, F, 0, 200, 10, 9.9),
            (2, 300, -1, 99, F, 0, 400, 11, 10.89),
            (3, 300, -1, 97, F, 0, 400, 11, 10.67),
            (4, 500, 1, 97, F, 0, 600, 9, 8.73),
            (5, 500, 1, 137, F, 0, 600, 9, 12.33),
        ],
    )
    check_table(
        ev,
        "fills",
        [
            (1, 200, 1, 99, 10, 9.9),
            (2, 400, -1, 99, 11, 10.89),
            (3, 400, -1, 97, 11, 10.67),
            (4, 600, 1, 97, 9, 8.73),
            (5, 600, 1, 137, 9, 12.33),
        ],
    )
    # the long of order 5 is still open: no third trade
    check_table(
        ev,
        "trades",
        [
            (1, 1, 99, 200, 10, 400, 11, 78.21, 20.79, 1, 2, 2),
            (2, -1, 97, 400, 11, 600, 9, 174.6, 19.4, 3, 4, 2),
        ],
    )
    check_table(fin, "orders", [])


def test_fixed_size_capped_by_cash() -> None:
    # cash 100, no commission, fixed(8).
    # bar 1: buy 8 @ 10, cash 20; equity 20 + 8 * 20 = 180
    # bar 3: sell 8 @ 20, cash 180; pnl 80
    # bar 5: 8 @ 30 = 240 > 180: capped to floor(180 / 30) = 6, cash 0
    bars = make_bars(
        [
            (100, 10, 10, 1),
            (200, 10, 20, NAN),
            (300, 20, 20, -1),
            (400, 20, 25, NAN),
            (500, 25, 25, 1),
            (600, 30, 30, NAN),
        ]
    )
    rows, ev, _, _ = run(make_kernel(fixed(8), 100.0), bars)
    check_rows(
        rows, [(100, 0, 100), (20, 8, 180), (20, 8, 180), (180, 0, 180), (180, 0, 180), (0, 6, 180)]
    )
    check_table(
        ev,
        "orders",
        [
            (1, 100, 1, 8, F, 0, 200, 10, 0),
            (2, 300, -1, 8, F, 0, 400, 20, 0),
            (3, 500, 1, 6, F, 0, 600, 30, 0),
        ],
    )
    check_table(ev, "fills", [(1, 200, 1, 8, 10, 0), (2, 400, -1, 8, 20, 0), (3, 600, 1, 6, 30, 0)])
    check_table(ev, "trades", [(1, 1, 8, 200, 10, 400, 20, 80, 0, 1, 2, 2)])


def test_target_percent_scales_with_signal_strength() -> None:
    # cash 1000, commission 1%, target_percent(0.5).
    # bar 1: strength 0.5: floor(0.5 * 0.5 * 1000 / 10.1) = floor(24.75) = 24 @ 10,
    #        fee 2.4, cash 757.6; equity 757.6 + 24 * 11 = 1021.6
    # bar 3: sell 24 @ 12, fee 2.88, cash 757.6 + 285.12 = 1042.72; pnl 48 - 5.28 = 42.72
    # bar 5: strength 3: fraction min(1.5, 1) = 1: floor(1042.72 / 15.15) = 68 @ 15,
    #        value 1020, fee 10.2, cash 12.52; equity 12.52 + 68 * 16 = 1100.52
    bars = make_bars(
        [
            (100, 10, 10, 0.5),
            (200, 10, 11, NAN),
            (300, 11, 12, -0.5),
            (400, 12, 12, 0),
            (500, 12, 12, 3.0),
            (600, 15, 16, NAN),
        ]
    )
    rows, ev, _, _ = run(make_kernel(target_percent(0.5), 1000.0, 0.01), bars)
    check_rows(
        rows,
        [
            (1000, 0, 1000),
            (757.6, 24, 1021.6),
            (757.6, 24, 1045.6),
            (1042.72, 0, 1042.72),
            (1042.72, 0, 1042.72),
            (12.52, 68, 1100.52),
        ],
    )
    check_table(
        ev,
        "orders",
        [
            (1, 100, 1, 24, F, 0, 200, 10, 2.4),
            (2, 300, -1, 24, F, 0, 400, 12, 2.88),
            (3, 500, 1, 68, F, 0, 600, 15, 10.2),
        ],
    )
    check_table(ev, "trades", [(1, 1, 24, 200, 10, 400, 12, 42.72, 5.28, 1, 2, 2)])


def test_zero_units_rejects_the_entry() -> None:
    # cash 5: at 10 not one unit is affordable -> order 1 REJECTED (reason 1), no fill;
    # still flat, so the next buy signal tries again and gets floor(5 / 4) = 1 @ 4
    bars = make_bars([(100, 10, 10, 1), (200, 10, 10, NAN), (300, 4, 4, 1), (400, 4, 4, NAN)])
    rows, ev, fin, _ = run(make_kernel(all_in(), 5.0), bars)
    check_rows(rows, [(5, 0, 5), (5, 0, 5), (5, 0, 5), (1, 1, 5)])
    check_table(ev, "orders", [(1, 100, 1, 0, R, 1, X, NAN, 0), (2, 300, 1, 1, F, 0, 400, 4, 0)])
    check_table(ev, "fills", [(2, 400, 1, 1, 4, 0)])
    check_table(ev, "trades", [])
    check_table(fin, "orders", [])


def test_signal_on_last_bar_leaves_accepted_orders_for_finish() -> None:
    # cash 100, long_only=False: long 10 @ 10; the -1 on the last bar decides a close
    # (size 10, known) and a short entry (sized only at its fill: size NaN)
    bars = make_bars([(100, 10, 10, 1), (200, 10, 10, NAN), (300, 10, 12, -1)])
    rows, ev, fin, _ = run(make_kernel(all_in(long_only=False), 100.0), bars)
    check_rows(rows, [(100, 0, 100), (0, 10, 100), (0, 10, 120)])
    check_table(ev, "orders", [(1, 100, 1, 10, F, 0, 200, 10, 0)])
    check_table(
        fin,
        "orders",
        [(2, 300, -1, 10, A, 0, X, NAN, 0), (3, 300, -1, NAN, A, 0, X, NAN, 0)],
    )
    check_table(fin, "fills", [])
    check_table(fin, "trades", [])


def test_position_open_at_the_end_has_no_trade_row() -> None:
    # cash 100, long_only=False: -1 while flat opens a short of floor(100 / 10) = 10 @ 10,
    # cash 100 + 100 = 200; it is still open at the end: equity = 200 - 10 * close
    bars = make_bars([(100, 10, 10, -1), (200, 10, 8, NAN), (300, 8, 9, 0)])
    rows, ev, fin, state = run(make_kernel(all_in(long_only=False), 100.0), bars)
    check_rows(rows, [(100, 0, 100), (200, -10, 120), (200, -10, 110)])
    check_table(ev, "fills", [(1, 200, -1, 10, 10, 0)])
    check_table(ev, "trades", [])
    check_table(fin, "orders", [])
    assert state["entry_price"][0] == 10 and state["entry_ts"][0] == 200


def test_sell_while_flat_and_long_only_creates_nothing() -> None:
    bars = make_bars([(100, 10, 10, -1), (200, 10, 10, -2), (300, 10, 10, NAN)])
    rows, ev, fin, state = run(make_kernel(all_in(), 100.0), bars)
    check_rows(rows, [(100, 0, 100)] * 3)
    check_table(ev, "orders", [])
    check_table(fin, "orders", [])
    assert state["next_order_id"][0] == 1


def test_float_rounding_in_all_in_sizing_is_corrected_by_one_unit() -> None:
    # 5 * 10.1 * 1.001 divided by 10.1 * 1.001 is exactly 5 in floats, but 5 units
    # cost 5 * 10.1 + 0.001 * (5 * 10.1) = one ulp more than that cash
    price, c = 10.1, 0.001
    cash = 5 * price * (1 + c)
    assert np.floor(cash / (price * (1 + c))) == 5
    assert _cost(5.0, price, c) > cash
    assert _entry_units(0, 1.0, 1.0, cash, price, c) == 4
    bars = make_bars([(100, price, price, 1), (200, price, price, NAN)])
    rows, _, _, _ = run(make_kernel(all_in(), cash, c), bars)
    assert rows["position"][-1] == 4 and rows["cash"][-1] >= 0


# --- properties -------------------------------------------------------------

SIGNALS = [NAN, NAN, NAN, 0.0, 1.0, -1.0, 0.5, -0.25, 2.0]
PRICE = st.integers(100, 50_000).map(lambda x: x / 100)
ALLOC = st.one_of(
    st.builds(all_in, long_only=st.booleans()),
    st.builds(fixed, st.integers(1, 60), long_only=st.booleans()),
    st.builds(target_percent, st.integers(1, 100).map(lambda x: x / 100), long_only=st.booleans()),
)


@st.composite
def cases(
    draw: Any, alloc: Any = ALLOC
) -> tuple[SignalStrategyKernel, dict[str, np.ndarray], list[int]]:
    n = draw(st.integers(0, 40))
    gaps = draw(st.lists(st.integers(1, 10**9), min_size=n, max_size=n))
    ts = 1_600_000_000_000_000 + np.cumsum(np.array(gaps, dtype=np.int64))
    o = draw(st.lists(PRICE, min_size=n, max_size=n))
    c = draw(st.lists(PRICE, min_size=n, max_size=n))
    s = draw(st.lists(st.sampled_from(SIGNALS), min_size=n, max_size=n))
    bars = make_bars([(0.0, oi, ci, si) for oi, ci, si in zip(o, c, s, strict=True)])
    bars["ts"] = ts.astype(np.int64)
    cash = draw(st.sampled_from([0.0, 50.0, 1000.0, 12345.67]))
    commission = draw(st.sampled_from([0.0, 0.0005, 0.001, 0.01]))
    kernel = make_kernel(draw(alloc), cash, commission)
    cuts = sorted(draw(st.lists(st.integers(0, n), max_size=5)))
    return kernel, bars, cuts


PROPS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPS
@given(cases())
def test_equity_is_cash_plus_position_at_close(case: Any) -> None:
    kernel, bars, _ = case
    rows, _, _, _ = run(kernel, bars)
    np.testing.assert_array_equal(rows["equity"], rows["cash"] + rows["position"] * bars["close"])
    np.testing.assert_array_equal(rows["position"], np.floor(rows["position"]))


LONG_ONLY = st.one_of(
    st.builds(all_in), st.builds(fixed, st.integers(1, 60)), st.builds(target_percent, st.just(1.0))
)


@PROPS
@given(cases(alloc=LONG_ONLY))
def test_cash_never_negative_long_only(case: Any) -> None:
    kernel, bars, _ = case
    rows, _, _, _ = run(kernel, bars)
    assert (rows["cash"] >= 0).all()
    assert (rows["position"] >= 0).all()


@PROPS
@given(cases())
def test_chunk_invariance_and_state_roundtrip(case: Any) -> None:
    kernel, bars, cuts = case
    n = len(bars["ts"])
    whole = run(kernel, bars)
    by_row = run(kernel, bars, list(range(1, n)))
    chunked = run(kernel, bars, cuts, roundtrip=True)
    for other in (by_row, chunked):
        for k in kernel.outputs:
            np.testing.assert_array_equal(whole[0][k], other[0][k])
        assert_same_events(whole[1], other[1])
        assert_same_events(whole[2], other[2])
        assert whole[3].keys() == other[3].keys()
        for k, v in whole[3].items():
            assert v.dtype == other[3][k].dtype and v.shape == (1,)
            np.testing.assert_array_equal(v, other[3][k], err_msg=k)


@PROPS
@given(cases())
def test_deterministic_and_inputs_untouched(case: Any) -> None:
    kernel, bars, cuts = case
    before = {k: v.copy() for k, v in bars.items()}
    a = run(kernel, bars, cuts)
    b = run(SignalStrategyKernel(**kernel.params), bars, cuts)
    for k in kernel.outputs:
        np.testing.assert_array_equal(a[0][k], b[0][k])
    assert_same_events(a[1], b[1])
    assert_same_events(a[2], b[2])
    for k, v in bars.items():
        np.testing.assert_array_equal(v, before[k])
    state = kernel.init()
    blob = dumps_state(state)
    kernel.step_events(state, bars)
    assert dumps_state(state) == blob  # the given state is not modified


@PROPS
@given(cases())
def test_event_tables_are_consistent(case: Any) -> None:
    kernel, bars, _ = case
    rows, ev, fin, state = run(kernel, bars)
    orders = concat_events([ev, fin])["orders"]
    # ids 1, 2, 3, ... each emitted once, in creation order
    np.testing.assert_array_equal(orders["order_id"], np.arange(1, len(orders["order_id"]) + 1))
    trades, fills = ev["trades"], ev["fills"]
    np.testing.assert_array_equal(trades["trade_id"], np.arange(1, len(trades["trade_id"]) + 1))
    filled = orders["status"] == F
    np.testing.assert_array_equal(orders["order_id"][filled], fills["order_id"])
    np.testing.assert_array_equal(orders["size"][filled], fills["size"])
    assert set(np.unique(orders["status"])) <= {F, R, A}
    assert (fills["size"] > 0).all() and (trades["bars_held"] >= 1).all()
    # cash accounting: flat at the end -> cash = start + sum of trade pnl
    if len(bars["ts"]) and rows["position"][-1] == 0:
        expected = kernel.params["cash"] + trades["pnl"].sum()
        assert rows["cash"][-1] == pytest.approx(expected, rel=1e-9, abs=1e-6)
    # every fee is in a trade, except the open position's entry fee
    open_fee = state["entry_fee"][0] if state["position"][0] != 0 else 0.0
    assert fills["commission"].sum() == pytest.approx(
        trades["commission"].sum() + open_fee, rel=1e-9, abs=1e-9
    )


# --- schema, registry, errors -----------------------------------------------


def test_event_schema_and_registry() -> None:
    assert KERNELS["SignalStrategy"] is SignalStrategyKernel
    k = make_kernel(all_in(), 100.0)
    _, rows, ev = k.step_events(k.init(), make_bars([]))
    assert all(len(v) == 0 for v in rows.values())
    for table, cols in EVENT_COLUMNS.items():
        assert {n: a.dtype for n, a in ev[table].items()} == cols
        assert arrow_schema(table).names == list(cols)
    assert OrderStatus.FILLED in ORDER_TRANSITIONS[OrderStatus.ACCEPTED]
    assert not ORDER_TRANSITIONS[OrderStatus.FILLED]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: target_percent(1.5), "target_percent(p=1.5): p must be in (0, 1], got 1.5"),
        (lambda: target_percent(0), "target_percent(p=0): p must be in (0, 1], got 0"),
        (lambda: fixed(0), "fixed(size=0): size must be a positive number of units, got 0"),
        (lambda: fixed(-3), "fixed(size=-3): size must be a positive"),
        (lambda: fixed(2.5), "fixed(size=2.5): size must be a whole number of units, got 2.5"),
        (lambda: fixed(float("nan")), "fixed(size=nan)"),
        (lambda: all_in(long_only="yes"), "all_in(long_only='yes'): long_only must be a bool"),
    ],
)
def test_allocation_validation(make: Any, message: str) -> None:
    with pytest.raises(InvalidParameterError) as err:
        make()
    assert message in str(err.value)


def test_allocation_params() -> None:
    assert all_in().to_params() == {"allocation": "all_in", "amount": 1.0, "long_only": True}
    assert fixed(3, long_only=False).to_params() == {
        "allocation": "fixed",
        "amount": 3.0,
        "long_only": False,
    }
    with pytest.raises(InvalidParameterError, match='Did you mean "all_in"'):
        SignalStrategyKernel(cash=1, commission=0, allocation="allin", amount=1, long_only=True)


def test_bad_bars_raise_data_error() -> None:
    k = make_kernel(all_in(), 100.0)
    with pytest.raises(DataError, match="strictly increasing"):
        k.step_events(k.init(), make_bars([(200, 10, 10, 1), (200, 10, 10, 1)]))
    state, _, _ = k.step_events(k.init(), make_bars([(200, 10, 10, 1)]))
    with pytest.raises(DataError, match="got ts=100 at row 0 after ts=200"):
        k.step_events(state, make_bars([(100, 10, 10, 1)]))
    with pytest.raises(DataError, match="open must be a finite price > 0"):
        k.step_events(k.init(), make_bars([(100, NAN, 10, 1)]))


# --- compiled == interpreted ------------------------------------------------


def _reference_run() -> dict[str, Any]:
    """A fixed 400-bar random walk through every allocation, fed in three chunks."""
    rng = np.random.default_rng(2024)
    n = 400
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
    open_ = close * np.exp(rng.normal(0, 0.01, n))
    signal = rng.choice(np.array([NAN, NAN, NAN, 1.0, -1.0, 0.3, -0.7]), n)
    bars = make_bars([(0, o, c, s) for o, c, s in zip(open_, close, signal, strict=True)])
    bars["ts"] = np.arange(n, dtype=np.int64) * 60_000_000
    out = {}
    allocs: list[Allocation] = [
        all_in(),
        all_in(False),
        fixed(7, False),
        target_percent(0.4, False),
    ]
    for alloc in allocs:
        rows, ev, fin, state = run(make_kernel(alloc, 10_000.0, 0.001), bars, [137, 301])
        out[repr(alloc)] = (rows, ev, fin, state)
    return out


def test_compiled_equals_interpreted() -> None:
    here = _reference_run()
    env = dict(os.environ)
    env.pop("NUMBA_DISABLE_JIT", None)
    env["STREAMBT_DISABLE_JIT"] = "0" if _jit.JIT_DISABLED else "1"
    code = (
        "import pickle, sys; sys.path.insert(0, sys.argv[1]);"
        "import test_sim_signal_strategy as t; from streambt.kernels import _jit;"
        "sys.stdout.buffer.write(pickle.dumps((_jit.JIT_DISABLED, t._reference_run())))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(Path(__file__).parent)],
        env=env,
        capture_output=True,
        check=True,
        timeout=120,
    )
    disabled, there = pickle.loads(proc.stdout)
    assert disabled is not _jit.JIT_DISABLED
    assert here.keys() == there.keys()
    for key, (rows, ev, fin, state) in here.items():
        rows2, ev2, fin2, state2 = there[key]
        for k in rows:
            np.testing.assert_array_equal(rows[k], rows2[k], err_msg=f"{key} {k}")
        assert_same_events(ev, ev2)
        assert_same_events(fin, fin2)
        assert dumps_state(state) == dumps_state(state2)
    assert any(len(ev["trades"]["pnl"]) > 5 for _, ev, _, _ in here.values())

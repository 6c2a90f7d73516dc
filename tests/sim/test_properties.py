"""Properties of the portfolio kernel over generated portfolios (hypothesis).

Each example draws 1-3 symbols with gaps in their bars, 1-3 pulse strategies
(sizers, long/short, brackets, entry types) and a broker (fees, slippage,
priority, volume limit, compliance limits), and checks:

- equity_k = cash_k + sum over symbols of position_k x last close, every row;
  the portfolio's cash and equity are the sums over strategies;
- OCO: without a volume limit at most one leg of a group fills; with one, the
  legs together never fill more than their entry;
- the status history of every order follows ORDER_TRANSITIONS, and each order
  has exactly one row in the orders table (final, or working from finish);
- determinism, and chunk invariance (whole, row by row, random chunks with the
  state serialized in between give identical rows, events and final state);
- cash never goes below 0 without margin when every strategy is long-only.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streambt.sim import fees, sizers, slippage
from streambt.sim.events import ORDER_TRANSITIONS, OrderStatus
from streambt.sim.portfolio import PortfolioKernel

from . import assert_same_events, run

PRICES = st.floats(5.0, 200.0, allow_nan=False).map(lambda x: round(x, 2))
FEES = st.sampled_from(
    [
        None,
        fees.percent(0.001),
        fees.per_share(0.01, minimum=1.0),
        fees.fixed(1.5),
        fees.maker_taker(maker=-0.0001, taker=0.001),
        fees.tiers([(0, 0.002), (5000, 0.001)]),
    ]
)
SLIPPAGE = st.sampled_from([None, slippage.bps(5), slippage.ticks(1), slippage.volume_share(0.2)])
SIZERS = st.sampled_from(
    [
        sizers.all_in(),
        sizers.fixed(7),
        sizers.percent_equity(0.3),
        {"allocation": "target_percent", "amount": 0.6},
        sizers.risk(0.05),
    ]
)
FRACTION = st.one_of(st.none(), st.sampled_from([0.01, 0.03, 0.08]))


@st.composite
def portfolios(
    draw: Any, long_only: bool | None = None
) -> tuple[PortfolioKernel, dict[str, Any], list[int]]:
    n_sym = draw(st.integers(1, 3))
    n_ts = draw(st.integers(1, 30))
    n_strat = draw(st.integers(1, 3))
    rows = []
    for t in range(n_ts):
        for s in range(n_sym):
            if n_sym > 1 and draw(st.integers(0, 5)) == 0:
                continue  # a missing bar
            o, c = draw(PRICES), draw(PRICES)
            up, down = (
                draw(st.sampled_from([0.0, 0.01, 0.05])),
                draw(st.sampled_from([0.0, 0.01, 0.05])),
            )
            vol = draw(st.sampled_from([0.0, 50.0, 1000.0, 1e6]))
            rows.append(
                (t * 60_000_000, s, o, max(o, c) * (1 + up), min(o, c) * (1 - down), c, vol)
            )
    strategies = []
    for k in range(n_strat):
        sizer = draw(SIZERS)
        sl = draw(FRACTION)
        if isinstance(sizer, sizers.Sizer) and sizer.sizer == "risk" and sl is None:
            sl = 0.05
        lo = draw(st.booleans()) if long_only is None else long_only
        strategies.append(
            {
                "name": f"s{k}",
                "weight": draw(st.sampled_from([1.0, 2.0])),
                "sizer": sizer,
                "long_only": lo,
                "stop_loss": sl,
                "take_profit": draw(FRACTION),
                "trailing_stop": draw(FRACTION),
                "entry": draw(st.sampled_from(["market", "market", "limit", "stop"])),
                "entry_offset": draw(st.sampled_from([0.0, 0.01])),
                "symbols": None if draw(st.booleans()) else ["A"],
            }
        )
    broker = {
        "fees": draw(FEES),
        "slippage": draw(SLIPPAGE),
        "priority": draw(st.sampled_from(["stop_first", "target_first"])),
        "volume_share": draw(st.sampled_from([None, None, 0.01, 0.5])),
        "stops_same_bar": draw(st.booleans()),
    }
    portfolio = {
        "cash": draw(st.sampled_from([100.0, 10_000.0])),
        "max_gross_exposure": draw(st.sampled_from([None, 0.5])),
        "max_symbol_notional": draw(st.sampled_from([None, 3000.0])),
        "rebalance_every": draw(st.sampled_from([None, 3])),
    }
    symbols = ["A", "B", "C"][:n_sym]
    instruments = {
        "A": {
            "tick_size": draw(st.sampled_from([0.0, 0.05])),
            "lot_size": draw(st.sampled_from([1.0, 5.0])),
        }
    }
    kernel = PortfolioKernel(
        symbols=symbols,
        strategies=strategies,
        portfolio=portfolio,
        broker=broker,
        instruments=instruments,
    )
    a = np.array(rows, dtype=np.float64).reshape(-1, 7)
    cols: dict[str, Any] = {
        "ts": a[:, 0].astype(np.int64),
        "symbol": a[:, 1].astype(np.int64),
        "open": a[:, 2],
        "high": a[:, 3],
        "low": a[:, 4],
        "close": a[:, 5],
        "volume": a[:, 6],
    }
    signal = st.sampled_from([np.nan, np.nan, 1.0, -1.0, 0.5])
    for k in range(n_strat):
        cols[f"signal_{k}"] = np.array([draw(signal) for _ in range(len(rows))])
    cuts = sorted(set(draw(st.lists(st.integers(0, len(rows)), max_size=4))))
    return kernel, cols, cuts


PROPS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPS
@given(portfolios())
def test_equity_is_cash_plus_positions_at_the_last_closes(case: Any) -> None:
    kernel, cols, _ = case
    rows, _, _ = run(kernel, cols)
    n_strat, n_sym = len(kernel.specs), len(kernel.symbols)
    pos = np.zeros((n_strat, n_sym))
    mark = np.zeros(n_sym)
    for j in range(len(cols["ts"])):
        s = cols["symbol"][j]
        mark[s] = cols["close"][j]
        for k in range(n_strat):
            pos[k, s] = rows[f"position_{k}"][j]
            value = sum(pos[k, x] * mark[x] for x in range(n_sym) if pos[k, x] != 0.0)
            np.testing.assert_allclose(
                rows[f"equity_{k}"][j], rows[f"cash_{k}"][j] + value, rtol=1e-12, atol=1e-9
            )
        assert rows["net_position"][j] == sum(pos[k, s] for k in range(n_strat))
        np.testing.assert_allclose(
            rows["cash"][j], sum(rows[f"cash_{k}"][j] for k in range(n_strat))
        )
        np.testing.assert_allclose(
            rows["equity"][j], sum(rows[f"equity_{k}"][j] for k in range(n_strat))
        )


@PROPS
@given(portfolios())
def test_oco_legs_never_both_fill_and_the_life_cycle_is_legal(case: Any) -> None:
    kernel, cols, _ = case
    _, ev, _ = run(kernel, cols)
    orders, fills = ev["orders"], ev["fills"]
    # one row per order, ids 1..n
    ids = np.sort(orders["order_id"])
    np.testing.assert_array_equal(ids, np.arange(1, len(ids) + 1))
    # fills add up to each order's filled size and never exceed its size
    filled: dict[int, float] = defaultdict(float)
    for oid, size in zip(fills["order_id"], fills["size"], strict=True):
        filled[int(oid)] += float(size)
    for i, oid in enumerate(orders["order_id"]):
        assert abs(filled[int(oid)] - orders["filled"][i]) <= 1e-9 * max(1.0, orders["filled"][i])
        assert orders["filled"][i] <= orders["size"][i] * (1 + 1e-12) or np.isnan(orders["size"][i])
    # OCO groups
    legs: dict[int, list[int]] = defaultdict(list)
    parent_filled = dict(zip(orders["order_id"].tolist(), orders["filled"].tolist(), strict=True))
    for i, group in enumerate(orders["oco_group"]):
        if group:
            legs[int(group)].append(i)
    for members in legs.values():
        with_fills = [i for i in members if orders["filled"][i] > 0]
        if kernel.params["broker"]["volume_share"] is None:
            assert len(with_fills) <= 1
        parent = int(orders["parent_id"][members[0]])
        total = sum(orders["filled"][i] for i in members)
        assert total <= parent_filled[parent] * (1 + 1e-12)
    # status histories follow the transition table
    history: dict[int, list[int]] = defaultdict(list)
    for oid, status in zip(
        ev["order_events"]["order_id"], ev["order_events"]["status"], strict=True
    ):
        history[int(oid)].append(int(status))
    final = dict(zip(orders["order_id"].tolist(), orders["status"].tolist(), strict=True))
    for oid, seq in history.items():
        assert seq[0] == OrderStatus.NEW
        for a, b in itertools.pairwise(seq):
            assert OrderStatus(b) in ORDER_TRANSITIONS[OrderStatus(a)], (oid, seq)
        assert seq[-1] == final[oid]


@PROPS
@given(portfolios())
def test_chunk_invariance_determinism_and_state_roundtrip(case: Any) -> None:
    kernel, cols, cuts = case
    n = len(cols["ts"])
    before = {k: v.copy() for k, v in cols.items()}
    whole = run(kernel, cols)
    again = run(PortfolioKernel(**kernel.params), cols)
    by_row = run(kernel, cols, list(range(1, n)))
    chunked = run(kernel, cols, cuts, roundtrip=True)
    for other in (again, by_row, chunked):
        for name in kernel.row_columns():
            np.testing.assert_array_equal(whole[0][name], other[0][name], err_msg=name)
        assert_same_events(whole[1], other[1])
        assert whole[2].keys() == other[2].keys()
        for key, value in whole[2].items():
            assert value.dtype == other[2][key].dtype
            np.testing.assert_array_equal(value, other[2][key], err_msg=key)
    for k, v in cols.items():
        np.testing.assert_array_equal(v, before[k])


@PROPS
@given(portfolios(long_only=True))
def test_cash_never_negative_without_margin_long_only(case: Any) -> None:
    kernel, cols, _ = case
    rows, _, _ = run(kernel, cols)
    for k in range(len(kernel.specs)):
        assert (rows[f"cash_{k}"] >= 0.0).all(), k
        assert (rows[f"position_{k}"] >= 0.0).all(), k

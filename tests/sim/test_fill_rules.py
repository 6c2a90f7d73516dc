"""Fill rules of the portfolio kernel, one hand-checked table per rule (docs/broker.md).

Bars are ``(ts, open, high, low, close[, volume])``; ts are small integers
(microseconds) unless a rule needs real days. A ``Script`` strategy places the
order at the close of the bar named in its plan, so the order can fill from
the NEXT bar on. No fees, no slippage unless the test says so.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from streambt.sim import orders as o
from streambt.sim.events import (
    ORDER_TRANSITIONS,
    OrderStateError,
    OrderStatus,
    transition_matrix,
)
from streambt.sim.portfolio import BAD_STATE, new_event_buffers

from . import DAY_US, bars, kernel, run, scripted, table

NEW, ACC, FIL, CAN, REJ, EXP, PAR = 1, 2, 3, 4, 5, 6, 7
MKT, LMT, STP, STL = 1, 2, 3, 4
MAKER, TAKER = 1, 2
NAN = None  # table() reads NaN as None

ORDER_COLS = (
    "order_id",
    "type",
    "side",
    "size",
    "filled",
    "limit_price",
    "stop_price",
    "status",
    "reason",
    "created_ts",
    "final_ts",
    "avg_price",
)
FILL_COLS = ("order_id", "ts", "side", "size", "price", "liquidity")


def fills(ev: dict[str, Any]) -> list[tuple[Any, ...]]:
    return table(ev, "fills", FILL_COLS)


def orders(ev: dict[str, Any]) -> list[tuple[Any, ...]]:
    return table(ev, "orders", ORDER_COLS)


def place(ts: int, side: str = "buy", **kw: Any) -> dict[int, list[Any]]:
    return {ts: [lambda c: getattr(c, side)(**kw)]}


# --- market ---------------------------------------------------------------------------------------


def test_market_order_fills_at_the_next_bars_open() -> None:
    # decided at the close of bar 1 (close 100), fills at the open of bar 2: 101
    b = bars([(1, 100, 101, 99, 100), (2, 101, 103, 100, 102), (3, 102, 102, 102, 102)])
    runner, _ = scripted(place(1, size=10))
    rows, ev, _ = run(runner, b)
    assert fills(ev) == [(1, 2, 1, 10.0, 101.0, TAKER)]
    assert orders(ev) == [(1, MKT, 1, 10.0, 10.0, NAN, NAN, FIL, 0, 1, 2, 101.0)]
    # cash 10000 - 1010 = 8990; equity at bar 2 = 8990 + 10 * 102 = 10010
    assert rows["cash_0"].tolist() == [10_000, 8_990, 8_990]
    assert rows["equity_0"].tolist() == [10_000, 10_010, 10_010]


# --- limit ----------------------------------------------------------------------------------------

LIMIT_BARS = [
    (1, 100, 101, 99, 100),  # buy limit 95 placed at this close
    (2, 100, 101, 96, 100),  # low 96 > 95: not reached
    (3, 98, 99, 94, 97),  # low 94 <= 95: fills at min(open 98, 95) = 95
]


def test_buy_limit_fills_at_the_limit_when_the_low_reaches_it() -> None:
    runner, _ = scripted(place(1, size=10, type="limit", limit=95))
    _, ev, _ = run(runner, bars(LIMIT_BARS))
    assert fills(ev) == [(1, 3, 1, 10.0, 95.0, MAKER)]
    assert orders(ev) == [(1, LMT, 1, 10.0, 10.0, 95.0, NAN, FIL, 0, 1, 3, 95.0)]


def test_buy_limit_gapped_through_fills_at_the_open() -> None:
    # bar 3 opens at 93 below the limit 95: min(93, 95) = 93, a better price
    b = bars([*LIMIT_BARS[:2], (3, 93, 94, 90, 92)])
    runner, _ = scripted(place(1, size=10, type="limit", limit=95))
    _, ev, _ = run(runner, b)
    assert fills(ev) == [(1, 3, 1, 10.0, 93.0, MAKER)]


def test_sell_limit_mirrors() -> None:
    # sell limit 105: bar 2 high 104 no; bar 3 high 106 -> max(open 103, 105) = 105;
    # with a gap (bar 3 opens 107) -> 107
    runner, _ = scripted(place(1, "sell", size=10, type="limit", limit=105))
    b = bars([(1, 100, 101, 99, 100), (2, 100, 104, 99, 100), (3, 103, 106, 102, 104)])
    _, ev, _ = run(runner, b)
    assert fills(ev) == [(1, 3, -1, 10.0, 105.0, MAKER)]
    runner, _ = scripted(place(1, "sell", size=10, type="limit", limit=105))
    b = bars([(1, 100, 101, 99, 100), (2, 100, 104, 99, 100), (3, 107, 108, 106, 107)])
    _, ev, _ = run(runner, b)
    assert fills(ev) == [(1, 3, -1, 10.0, 107.0, MAKER)]


def test_limit_never_fills_on_its_decision_bar() -> None:
    # placed at the close of bar 1 whose low (90) is below the limit: bar 1 is in the past
    b = bars([(1, 100, 101, 90, 100), (2, 100, 101, 99, 100)])
    runner, _ = scripted(place(1, size=10, type="limit", limit=95))
    _, ev, _ = run(runner, b)
    assert fills(ev) == []
    assert orders(ev) == [(1, LMT, 1, 10.0, 0.0, 95.0, NAN, ACC, 0, 1, o.NO_TS, NAN)]


# --- stop -----------------------------------------------------------------------------------------


def test_buy_stop_fills_at_the_stop_or_the_gapped_open() -> None:
    # buy stop 105: bar 2 high 104 no; bar 3 high 106 -> max(open 102, 105) = 105 (taker)
    runner, _ = scripted(place(1, size=10, type="stop", stop=105))
    b = bars([(1, 100, 101, 99, 100), (2, 100, 104, 99, 103), (3, 102, 106, 101, 105)])
    _, ev, _ = run(runner, b)
    assert fills(ev) == [(1, 3, 1, 10.0, 105.0, TAKER)]
    # gap: bar 3 opens at 107 above the stop -> fills at the open 107
    runner, _ = scripted(place(1, size=10, type="stop", stop=105))
    b = bars([(1, 100, 101, 99, 100), (2, 100, 104, 99, 103), (3, 107, 108, 106, 107)])
    _, ev, _ = run(runner, b)
    assert fills(ev) == [(1, 3, 1, 10.0, 107.0, TAKER)]


def test_sell_stop_mirrors() -> None:
    # sell stop 95: low 94 -> min(open 97, 95) = 95; gap open 93 -> 93
    runner, _ = scripted(place(1, "sell", size=10, type="stop", stop=95))
    _, ev, _ = run(runner, bars([(1, 100, 101, 99, 100), (2, 97, 98, 94, 96)]))
    assert fills(ev) == [(1, 2, -1, 10.0, 95.0, TAKER)]
    runner, _ = scripted(place(1, "sell", size=10, type="stop", stop=95))
    _, ev, _ = run(runner, bars([(1, 100, 101, 99, 100), (2, 93, 94, 90, 92)]))
    assert fills(ev) == [(1, 2, -1, 10.0, 93.0, TAKER)]


# --- stop-limit -----------------------------------------------------------------------------------


def test_stop_limit_fills_on_its_trigger_bar_when_the_trigger_price_is_within_the_limit() -> None:
    # buy stop 105 limit 106: bar 2 high 107 triggers at max(open 102, 105) = 105 <= 106 -> 105
    runner, _ = scripted(place(1, size=10, type="stop_limit", stop=105, limit=106))
    _, ev, _ = run(runner, bars([(1, 100, 101, 99, 100), (2, 102, 107, 101, 106)]))
    assert fills(ev) == [(1, 2, 1, 10.0, 105.0, TAKER)]
    assert orders(ev)[0][1] == STL


def test_stop_limit_gapped_above_its_limit_rests_as_a_limit_from_the_next_bar() -> None:
    # bar 2 opens 107 > stop 105: triggered at 107 > limit 106, no fill on bar 2 (its low 106.5
    # is above the limit anyway); bar 3: low 105.5 <= 106 -> min(open 106.8, 106) = 106, maker
    runner, _ = scripted(place(1, size=10, type="stop_limit", stop=105, limit=106))
    b = bars([(1, 100, 101, 99, 100), (2, 107, 108, 106.5, 107), (3, 106.8, 107, 105.5, 106)])
    _, ev, _ = run(runner, b)
    assert fills(ev) == [(1, 3, 1, 10.0, 106.0, MAKER)]


def test_stop_limit_with_the_limit_below_the_stop_waits_for_the_next_bar() -> None:
    # buy stop 105 limit 104 (buy the pullback after a breakout): bar 2 triggers at 105 > 104;
    # whether the pullback to 104 came after the trigger inside bar 2 is unknown -> not bar 2.
    # bar 3: low 103 <= 104 -> min(open 104.5, 104) = 104
    runner, _ = scripted(place(1, size=10, type="stop_limit", stop=105, limit=104))
    b = bars([(1, 100, 101, 99, 100), (2, 103, 106, 103, 105), (3, 104.5, 105, 103, 104)])
    _, ev, _ = run(runner, b)
    assert fills(ev) == [(1, 3, 1, 10.0, 104.0, MAKER)]


def test_sell_stop_limit_mirrors() -> None:
    # sell stop 95 limit 94: bar 2 low 93 triggers at min(open 97, 95) = 95 >= 94 -> 95
    runner, _ = scripted(place(1, "sell", size=10, type="stop_limit", stop=95, limit=94))
    _, ev, _ = run(runner, bars([(1, 100, 101, 99, 100), (2, 97, 98, 93, 94)]))
    assert fills(ev) == [(1, 2, -1, 10.0, 95.0, TAKER)]
    # gap to 92 < limit 94: triggered, rests; bar 3 high 95 >= 94 -> max(open 93, 94) = 94
    runner, _ = scripted(place(1, "sell", size=10, type="stop_limit", stop=95, limit=94))
    b = bars([(1, 100, 101, 99, 100), (2, 92, 93, 90, 91), (3, 93, 95, 92, 94)])
    _, ev, _ = run(runner, b)
    assert fills(ev) == [(1, 3, -1, 10.0, 94.0, MAKER)]


# --- time in force --------------------------------------------------------------------------------


def test_day_order_expires_at_the_first_bar_of_a_later_utc_day() -> None:
    d = DAY_US
    h = 3_600_000_000  # one hour
    # hourly bars: a DAY buy limit 95 placed at 10:00 of day 1 is live through day 1's bars,
    # not reached (lows 96); the 00:00 bar of day 2 expires it before matching (its low 90
    # would have filled it). A GTC twin placed at the same time fills there at 95.
    b = bars(
        [
            (d + 10 * h, 100, 101, 99, 100),
            (d + 11 * h, 100, 101, 96, 100),
            (d + 23 * h, 100, 101, 96, 100),
            (2 * d, 97, 98, 90, 92),
        ]
    )
    plan = {
        d + 10 * h: [
            lambda c: c.buy(size=10, type="limit", limit=95, tif="DAY"),
            lambda c: c.buy(size=5, type="limit", limit=95),
        ]
    }
    runner, _ = scripted(plan)
    _, ev, _ = run(runner, b)
    assert table(ev, "orders", ("order_id", "status", "reason", "final_ts")) == [
        (1, EXP, 10, 2 * d),  # EXPIRED_DAY
        (2, FIL, 0, 2 * d),
    ]
    assert table(ev, "order_events", ("order_id", "ts", "status")) == [
        (1, d + 10 * h, NEW),
        (1, d + 10 * h, ACC),
        (2, d + 10 * h, NEW),
        (2, d + 10 * h, ACC),
        (1, 2 * d, EXP),
        (2, 2 * d, FIL),
    ]


def test_day_order_on_daily_bars_expires_at_the_next_bar() -> None:
    # the decision is at the close of the day's bar: the next bar is a later day (no calendar)
    d = DAY_US
    b = bars([(d, 100, 101, 99, 100), (2 * d, 100, 101, 90, 100)])
    runner, _ = scripted(place(d, size=10, type="limit", limit=95, tif="DAY"))
    _, ev, _ = run(runner, b)
    assert table(ev, "orders", ("order_id", "status", "final_ts")) == [(1, EXP, 2 * d)]
    assert fills(ev) == []


# --- volume-limited partial fills -----------------------------------------------------------------


def test_volume_share_fills_part_per_bar_and_keeps_the_rest_working() -> None:
    # volume_share 0.1: at most 10% of each bar's volume. Buy 25 at market:
    # bar 2 volume 100 -> 10 @ 101; bar 3 volume 80 -> 8 @ 102; bar 4 volume 500 -> the last 7 @ 103
    b = bars(
        [
            (1, 100, 100, 100, 100, 1000),
            (2, 101, 101, 101, 101, 100),
            (3, 102, 102, 102, 102, 80),
            (4, 103, 103, 103, 103, 500),
        ]
    )
    runner, _ = scripted(place(1, size=25), broker={"volume_share": 0.1})
    rows, ev, _ = run(runner, b)
    assert fills(ev) == [
        (1, 2, 1, 10.0, 101.0, TAKER),
        (1, 3, 1, 8.0, 102.0, TAKER),
        (1, 4, 1, 7.0, 103.0, TAKER),
    ]
    # avg = (1010 + 816 + 721) / 25 = 101.88
    assert orders(ev) == [(1, MKT, 1, 25.0, 25.0, NAN, NAN, FIL, 0, 1, 4, 101.88)]
    assert [s for i, _, s in table(ev, "order_events", ("order_id", "ts", "status"))] == [
        NEW,
        ACC,
        PAR,
        PAR,
        FIL,
    ]
    assert rows["position_0"].tolist() == [0, 10, 18, 25]


def test_volume_share_is_shared_by_the_orders_of_a_bar() -> None:
    # two market buys of 6 and a bar volume of 100 at share 0.1: the first (lower id) gets 6,
    # the second the remaining 4, then its last 2 on the next bar
    b = bars(
        [(1, 100, 100, 100, 100, 1000), (2, 101, 101, 101, 101, 100), (3, 102, 102, 102, 102, 100)]
    )
    runner, _ = scripted(
        {1: [lambda c: c.buy(size=6), lambda c: c.buy(size=6)]}, broker={"volume_share": 0.1}
    )
    _, ev, _ = run(runner, b)
    assert fills(ev) == [
        (1, 2, 1, 6.0, 101.0, TAKER),
        (2, 2, 1, 4.0, 101.0, TAKER),
        (2, 3, 1, 2.0, 102.0, TAKER),
    ]


# --- instruments: lots, ticks, notional and position limits ----------------------------------------


def test_sizes_round_down_to_lots_and_zero_lots_is_rejected() -> None:
    b = bars([(1, 10, 10, 10, 10), (2, 10, 10, 10, 10)])
    inst = {"X": {"lot_size": 100}}
    runner, _ = scripted(
        {1: [lambda c: c.buy(size=250), lambda c: c.buy(size=50)]}, instruments=inst
    )
    _, ev, _ = run(runner, b)
    # 250 -> 2 lots = 200, filled at 10; 50 -> 0 lots: NEW -> REJECTED (LOT_SIZE) at once
    assert table(ev, "orders", ("order_id", "size", "filled", "status", "reason", "final_ts")) == [
        (2, 50.0, 0.0, REJ, 2, 1),
        (1, 250.0, 200.0, FIL, 0, 2),
    ]
    assert table(ev, "order_events", ("order_id", "status"))[:4] == [
        (1, NEW),
        (1, ACC),
        (2, NEW),
        (2, REJ),
    ]


@pytest.mark.parametrize(
    ("side", "kind", "price", "expected"),
    [
        ("buy", "limit", 95.037, 95.0),  # buy limit rounds down
        ("sell", "limit", 95.037, 95.05),  # sell limit rounds up
        ("buy", "stop", 105.01, 105.05),  # buy stop rounds up: never triggers below the ask
        ("sell", "stop", 94.99, 94.95),  # sell stop rounds down
        ("buy", "limit", 100.3, 100.3),  # already on a tick (100.3 / 0.05 = 2005.9999...)
    ],
)
def test_prices_round_to_ticks_passively(
    side: str, kind: str, price: float, expected: float
) -> None:
    b = bars([(1, 100, 100, 100, 100), (2, 100, 100, 100, 100)])
    runner, _ = scripted(
        place(1, side, size=1, type=kind, **{kind: price}), instruments={"X": {"tick_size": 0.05}}
    )
    _, ev, _ = run(runner, b)
    col = "limit_price" if kind == "limit" else "stop_price"
    assert ev["orders"][col][0] == pytest.approx(expected, abs=1e-12)


def test_a_price_that_rounds_to_zero_ticks_is_rejected() -> None:
    b = bars([(1, 100, 100, 100, 100)])
    runner, _ = scripted(
        place(1, size=1, type="limit", limit=0.3), instruments={"X": {"tick_size": 1.0}}
    )
    _, ev, _ = run(runner, b)
    assert table(ev, "orders", ("order_id", "status", "reason")) == [(1, REJ, 3)]  # TICK_SIZE


@pytest.mark.parametrize(
    ("inst", "size", "reason"),
    [
        ({"min_notional": 500}, 4, 4),  # 4 x 100 = 400 < 500: MIN_NOTIONAL
        ({"max_notional": 500}, 6, 5),  # 600 > 500: MAX_NOTIONAL
        ({"max_position": 5}, 6, 6),  # |0 + 6| > 5: MAX_POSITION
    ],
)
def test_instrument_limits_reject_at_the_fill(
    inst: dict[str, float], size: int, reason: int
) -> None:
    b = bars([(1, 100, 100, 100, 100), (2, 100, 100, 100, 100)])
    runner, _ = scripted(place(1, size=size), instruments={"X": inst})
    _, ev, _ = run(runner, b)
    # checked with the fill price, so ACCEPTED at the decision and REJECTED at the next bar
    assert table(ev, "orders", ("order_id", "status", "reason", "final_ts", "filled")) == [
        (1, REJ, reason, 2, 0.0)
    ]
    assert fills(ev) == []


def test_an_explicit_size_the_cash_cannot_pay_is_rejected() -> None:
    # cash 1000, buy 11 @ 100 = 1100 > 1000 -> REJECTED, INSUFFICIENT_CASH; cash unchanged
    b = bars([(1, 100, 100, 100, 100), (2, 100, 100, 100, 100)])
    runner, _ = scripted(place(1, size=11), cash=1000.0)
    rows, ev, _ = run(runner, b)
    assert table(ev, "orders", ("order_id", "status", "reason")) == [(1, REJ, 1)]
    assert rows["cash_0"].tolist() == [1000.0, 1000.0]


# --- the life cycle --------------------------------------------------------------------------------


def test_transition_table_and_illegal_transition_raises() -> None:
    m = transition_matrix()
    for src in OrderStatus:
        for dst in OrderStatus:
            assert bool(m[src, dst]) == (dst in ORDER_TRANSITIONS[src])
    assert OrderStatus.PARTIALLY_FILLED in ORDER_TRANSITIONS[OrderStatus.ACCEPTED]
    # drive one order through the numba helpers and then ask for FILLED -> CANCELLED
    k = kernel([{"name": "s", "style": "event"}])
    B = k.book(k.init())
    E = new_event_buffers(8)
    nan = np.nan
    slot = o.new_order(B, k.P, E, 0, 0, 1, MKT, 1, 5.0, nan, nan, 1, 0, 0, 0, 7, 8)
    assert o.set_status(B, k.P, E, slot, FIL, 8, -1)
    assert not o.set_status(B, k.P, E, slot, CAN, 9, 11)
    assert B[4][o.G_ERR] == o.ERR_TRANSITION
    err = k.error(BAD_STATE, B, 0, {}, 0)
    assert isinstance(err, OrderStateError)
    assert "order 1 cannot go from FILLED to CANCELLED" in str(err)

"""Stops as real orders: OCO stop-loss / take-profit legs, trailing stops, MAE/MFE (docs/broker.md).

Pulse strategies here trade ``fixed(10)`` units with no fees, so every number is
``10 x price``. Bars are ``(ts, open, high, low, close[, volume])``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from . import bars, run, scripted, table
from . import kernel as make_kernel

NEW, ACC, FIL, CAN, REJ, EXP, PAR = 1, 2, 3, 4, 5, 6, 7
SIGNAL, SL, TP, TRAIL = 1, 2, 3, 4
R_OCO, R_EXIT, R_CLOSED = 8, 9, 13

TRADE_COLS = (
    "side",
    "size",
    "entry_ts",
    "entry_price",
    "exit_ts",
    "exit_price",
    "pnl",
    "bars_held",
    "mae",
    "mfe",
    "exit_reason",
)
LEG_COLS = (
    "order_id",
    "role",
    "side",
    "type",
    "limit_price",
    "stop_price",
    "status",
    "reason",
    "final_ts",
    "filled",
    "parent_id",
    "oco_group",
)


def pulse(rows: list[tuple[float, ...]], signal: list[float], **strategy: Any) -> tuple[Any, Any]:
    """Run one pulse strategy (fixed 10 units) over one symbol's bars with ``signal``."""
    broker = strategy.pop("broker", {})
    spec = {"name": "p", "sizer": {"sizer": "fixed", "amount": 10}, **strategy}
    k = make_kernel([spec], broker=broker)
    rows_, ev, _ = run(k, bars(rows, signal_0=signal))
    return rows_, ev


BRACKET = {"stop_loss": 0.05, "take_profit": 0.10}  # entry 100 -> stop 95, target 110


def test_take_profit_fills_and_cancels_the_stop() -> None:
    rows, ev = pulse(
        [
            (1, 100, 100, 100, 100),  # +1 decided
            (2, 100, 104, 96, 103),  # entry 10 @ 100; legs: sell stop 95, sell limit 110
            (3, 103, 111, 102, 108),  # high 111 >= 110: TP fills at max(103, 110) = 110
        ],
        [1, np.nan, np.nan],
        **BRACKET,
    )
    # legs are made by the entry's fill at ts 2 and share OCO group 1
    # the orders table lists orders as they end: the target's fill, then the stop's cancel
    assert sorted(table(ev, "orders", LEG_COLS)) == [
        (1, SIGNAL, 1, 1, None, None, FIL, 0, 2, 10.0, 0, 0),
        (2, SL, -1, 3, None, 95.0, CAN, R_OCO, 3, 0.0, 1, 1),
        (3, TP, -1, 2, 110.0, None, FIL, 0, 3, 10.0, 1, 1),
    ]
    # mae/mfe over the entry bar (96..104) and the exit price 110: 100 - 96, 110 - 100
    assert table(ev, "trades", TRADE_COLS) == [
        (1, 10.0, 2, 100.0, 3, 110.0, 100.0, 1, 4.0, 10.0, TP)
    ]
    assert rows["cash_0"].tolist() == [10_000, 9_000, 10_100]


def test_stop_loss_is_active_on_the_entry_bar_after_its_open() -> None:
    # the entry fills at the open 100 of bar 2, whose low 94 then reaches the stop 95
    _, ev = pulse([(1, 100, 100, 100, 100), (2, 100, 101, 94, 95)], [1, np.nan], **BRACKET)
    assert table(ev, "trades", TRADE_COLS) == [(1, 10.0, 2, 100.0, 2, 95.0, -50.0, 0, 5.0, 0.0, SL)]


def test_stops_from_the_next_bar_when_configured() -> None:
    # stops_same_bar=False (backtrader's bracket convention): bar 2's low 94 does not count;
    # bar 3 opens at 95 and its low 93 reaches the stop: min(95, 95) = 95
    _, ev = pulse(
        [(1, 100, 100, 100, 100), (2, 100, 101, 94, 95), (3, 95, 96, 93, 94)],
        [1, np.nan, np.nan],
        broker={"stops_same_bar": False},
        **BRACKET,
    )
    assert table(ev, "trades", ("exit_ts", "exit_price", "exit_reason")) == [(3, 95.0, SL)]


@pytest.mark.parametrize(
    ("priority", "exit_price", "reason"), [("stop_first", 95.0, SL), ("target_first", 110.0, TP)]
)
def test_both_legs_touched_in_one_bar(priority: str, exit_price: float, reason: int) -> None:
    # bar 3 spans 94..111: both legs touched; the order inside the bar is unknown
    _, ev = pulse(
        [(1, 100, 100, 100, 100), (2, 100, 104, 96, 103), (3, 103, 111, 94, 100)],
        [1, np.nan, np.nan],
        broker={"priority": priority},
        **BRACKET,
    )
    assert table(ev, "trades", ("exit_price", "exit_reason")) == [(exit_price, reason)]
    statuses = sorted(table(ev, "orders", ("role", "status", "reason")))
    assert statuses == sorted([(SIGNAL, FIL, 0), (reason, FIL, 0), (SL + TP - reason, CAN, R_OCO)])


def test_stop_gapped_through_fills_at_the_open() -> None:
    _, ev = pulse(
        [(1, 100, 100, 100, 100), (2, 100, 104, 96, 103), (3, 90, 92, 88, 91)],
        [1, np.nan, np.nan],
        **BRACKET,
    )
    # min(open 90, stop 95) = 90; mae 100 - 88? no: the exit bar counts only by its exit price
    assert table(ev, "trades", TRADE_COLS) == [
        (1, 10.0, 2, 100.0, 3, 90.0, -100.0, 1, 10.0, 4.0, SL)
    ]


def test_exit_signal_cancels_both_legs_and_closes_at_the_next_open() -> None:
    _, ev = pulse(
        [
            (1, 100, 100, 100, 100),  # +1
            (2, 100, 104, 96, 103),  # entry @ 100, legs 2 and 3
            (
                3,
                103,
                105,
                101,
                104,
            ),  # -1 (long_only): legs CANCELLED (EXIT_SIGNAL) at ts 3, close = 4
            (4, 102, 103, 94, 95),  # close fills at the open 102 (the low 94 no longer matters)
        ],
        [1, np.nan, -1, np.nan],
        **BRACKET,
    )
    assert table(ev, "orders", ("order_id", "role", "status", "reason", "final_ts")) == [
        (1, SIGNAL, FIL, 0, 2),
        (2, SL, CAN, R_EXIT, 3),
        (3, TP, CAN, R_EXIT, 3),
        (4, SIGNAL, FIL, 0, 4),
    ]
    assert table(ev, "trades", ("exit_ts", "exit_price", "pnl", "exit_reason")) == [
        (4, 102.0, 20.0, SIGNAL)
    ]


def test_short_bracket_mirrors() -> None:
    # short 10 @ 100: buy stop 105, buy limit 90; bar 3 low 89 -> TP at min(98, 90) = 90
    _, ev = pulse(
        [(1, 100, 100, 100, 100), (2, 100, 103, 97, 99), (3, 98, 99, 89, 92)],
        [-1, np.nan, np.nan],
        long_only=False,
        **BRACKET,
    )
    assert sorted(table(ev, "orders", ("role", "side", "limit_price", "stop_price")))[1:] == [
        (SL, 1, None, 105.0),
        (TP, 1, 90.0, None),
    ]
    # short: mae = highest - entry = 103 - 100, mfe = entry - lowest = 100 - 90
    assert table(ev, "trades", TRADE_COLS) == [
        (-1, 10.0, 2, 100.0, 3, 90.0, 100.0, 1, 3.0, 10.0, TP)
    ]


def test_trailing_stop_follows_the_best_high_of_closed_bars_and_never_loosens() -> None:
    rows = [
        (1, 100, 100, 100, 100),  # +1
        (
            2,
            100,
            110,
            99,
            108,
        ),  # entry @ 100: trail stop 100 * 0.9 = 90; at the close best 110 -> 99
        (3, 107, 108, 100, 104),  # low 100 > 99; best stays 110 -> 99
        (4, 101, 102, 97, 98),  # low 97 <= 99: fills at min(101, 99) = 99
    ]
    _, ev = pulse(rows, [1, np.nan, np.nan, np.nan], trailing_stop=0.1)
    assert table(ev, "orders", ("order_id", "role", "stop_price", "status", "final_ts"))[1:] == [
        (2, TRAIL, 99.0, FIL, 4)
    ]
    # mae: lowest low while held (bars 2, 3) = 99; mfe: highest high = 110
    assert table(ev, "trades", TRADE_COLS) == [
        (1, 10.0, 2, 100.0, 4, 99.0, -10.0, 2, 1.0, 10.0, TRAIL)
    ]


def test_trailing_and_fixed_stop_in_one_group_the_higher_stop_fills_first() -> None:
    # entry 100, sl 0.05 -> 95, trail 0.1 -> 90, best after bar 2 = 100 -> still 90.
    # bar 3 (96..89) touches both sell stops: the price meets 95 before 90
    _, ev = pulse(
        [(1, 100, 100, 100, 100), (2, 100, 100, 98, 99), (3, 96, 97, 89, 90)],
        [1, np.nan, np.nan],
        stop_loss=0.05,
        trailing_stop=0.1,
    )
    assert table(ev, "orders", ("role", "stop_price", "status", "reason", "oco_group"))[1:] == [
        (SL, 95.0, FIL, 0, 1),
        (TRAIL, 90.0, CAN, R_OCO, 1),
    ]


def test_partial_leg_fills_shrink_the_sibling_and_never_overfill() -> None:
    # volume_share 0.1. Bar 3: the stop is touched but only 4 (10% of 40) can sell @ 95;
    # the target shrinks to 6. Bar 4: the target fills those 6 @ 110, the position is flat,
    # the stop's remainder is cancelled (OCO). Two trades: 4 and 6 units.
    _, ev = pulse(
        [
            (1, 100, 100, 100, 100, 1000),
            (2, 100, 104, 96, 103, 1000),
            (3, 96, 97, 94, 95, 40),
            (4, 104, 111, 103, 110, 1000),
        ],
        [1, np.nan, np.nan, np.nan],
        broker={"volume_share": 0.1},
        **BRACKET,
    )
    assert sorted(
        table(ev, "orders", ("order_id", "role", "size", "filled", "status", "reason"))
    ) == [
        (1, SIGNAL, 10.0, 10.0, FIL, 0),
        (2, SL, 10.0, 4.0, CAN, R_OCO),
        (3, TP, 10.0, 6.0, FIL, 0),
    ]
    assert table(ev, "trades", ("size", "exit_price", "pnl", "exit_reason")) == [
        (4.0, 95.0, -20.0, SL),
        (6.0, 110.0, 60.0, TP),
    ]


def test_legs_of_an_entry_filled_inside_a_bar_start_at_the_next_bar() -> None:
    # buy limit 95 with a 5% stop: bar 2 fills it at 95 inside the bar -> stop 90.25; bar 2's
    # low 89 may have come before the fill, so the stop waits for bar 3 (no touch) and bar 4,
    # which opens at 90 below it: min(90, 90.25) = 90
    runner, _ = scripted({1: [lambda c: c.buy(size=10, type="limit", limit=95, stop_loss=0.05)]})
    b = bars(
        [(1, 100, 100, 100, 100), (2, 98, 99, 89, 92), (3, 92, 93, 91, 92), (4, 90, 91, 88, 89)]
    )
    _, ev, _ = run(runner, b)
    assert table(ev, "trades", ("entry_ts", "entry_price", "exit_ts", "exit_price")) == [
        (2, 95.0, 4, 90.0)
    ]


def test_legs_of_an_entry_filled_at_the_open_start_on_that_bar() -> None:
    # the limit 95 gaps: filled at the open 93 -> stop 93 * 0.95 = 88.35, hit by the same bar's low 88
    runner, _ = scripted({1: [lambda c: c.buy(size=10, type="limit", limit=95, stop_loss=0.05)]})
    _, ev, _ = run(runner, bars([(1, 100, 100, 100, 100), (2, 93, 94, 88, 89)]))
    assert table(ev, "trades", ("entry_price", "exit_ts", "exit_price")) == [(93.0, 2, 88.35)]


def test_closing_the_position_another_way_cancels_the_legs() -> None:
    # an event strategy sells its 10 units with a plain order: the legs have nothing left to
    # protect and are cancelled (POSITION_CLOSED) when the position goes flat
    plan = {1: [lambda c: c.buy(size=10, **BRACKET)], 2: [lambda c: c.sell(size=10)]}
    runner, _ = scripted(plan)
    b = bars([(1, 100, 100, 100, 100), (2, 100, 101, 99, 100), (3, 101, 101, 101, 101)])
    _, ev, _ = run(runner, b)
    assert table(ev, "orders", ("order_id", "role", "status", "reason", "final_ts")) == [
        (1, SIGNAL, FIL, 0, 2),
        (4, SIGNAL, FIL, 0, 3),
        (2, SL, CAN, R_CLOSED, 3),
        (3, TP, CAN, R_CLOSED, 3),
    ]


def test_pulse_limit_entry_with_offset() -> None:
    # entry="limit", offset 0.02: buy limit at close 100 * 0.98 = 98; bar 2 low 97.5 -> 98
    _, ev = pulse(
        [(1, 100, 100, 100, 100), (2, 99, 100, 97.5, 99)],
        [1, np.nan],
        entry="limit",
        entry_offset=0.02,
    )
    assert table(ev, "fills", ("ts", "price", "liquidity")) == [(2, 98.0, 1)]


def test_a_working_entry_is_kept_by_a_same_side_signal_and_replaced_by_an_opposite_one() -> None:
    # limit entries 5% away never fill on these flat bars. +1 at bar 1: buy limit 95 (order 1);
    # +1 again at bar 2: flat with a buy already working -> kept, nothing new; -1 at bar 3
    # (long/short): the buy is CANCELLED (REPLACED) at ts 3 and a sell limit 105 is placed
    _, ev = pulse(
        [(t, 100, 100, 100, 100) for t in (1, 2, 3, 4)],
        [1, 1, -1, np.nan],
        long_only=False,
        entry="limit",
        entry_offset=0.05,
    )
    assert table(
        ev, "orders", ("order_id", "side", "limit_price", "status", "reason", "final_ts")
    ) == [
        (1, 1, 95.0, CAN, 12, 3),
        (2, -1, 105.0, ACC, 0, -(2**63)),  # still working: from finish, final_ts = NO_TS
    ]

"""Broker models: commissions, slippage, sizing under fees, margin and liquidation (docs/broker.md).

Each table is a few literal bars with the arithmetic in the comments.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from streambt.errors import InvalidParameterError
from streambt.sim import fees, sizers, slippage
from streambt.sim.fees import fee_arrays
from streambt.sim.sizers import affordable

from . import bars, run, scripted, table
from . import kernel as make_kernel

MAKER, TAKER = 1, 2
FLAT = [
    (1, 100, 100, 100, 100),
    (2, 100, 100, 100, 100),
    (3, 100, 100, 100, 100),
    (4, 100, 100, 100, 100),
]


def commissions(fee_model: Any, plan: dict[int, list[Any]], rows: list[Any] = FLAT) -> list[Any]:
    runner, _ = scripted(plan, broker={"fees": fee_model})
    _, ev, _ = run(runner, bars(rows))
    return table(ev, "fills", ("ts", "size", "price", "commission", "liquidity"))


# --- commissions ------------------------------------------------------------------------------------


def test_percent_fee() -> None:
    # 0.1% of 10 x 100 = 1.0
    assert commissions(fees.percent(0.001), {1: [lambda c: c.buy(size=10)]}) == [
        (2, 10.0, 100.0, 1.0, TAKER)
    ]


def test_per_share_fee_with_minimum() -> None:
    # 10 units: max(1.0, 0.05 x 10 = 0.5) = 1.0; 80 units: max(1.0, 4.0) = 4.0
    plan = {1: [lambda c: c.buy(size=10)], 2: [lambda c: c.buy(size=80)]}
    got = commissions(fees.per_share(0.05, minimum=1.0), plan, FLAT)
    assert got == [(2, 10.0, 100.0, 1.0, TAKER), (3, 80.0, 100.0, 4.0, TAKER)]


def test_fixed_fee() -> None:
    assert commissions(fees.fixed(2.5), {1: [lambda c: c.buy(size=3)]}) == [
        (2, 3.0, 100.0, 2.5, TAKER)
    ]


def test_maker_taker_fee_resting_limits_are_makers() -> None:
    # market buy 10 @ 100: taker 0.07% of 1000 = 0.7; the buy limit 95 filled inside bar 3:
    # maker 0.02% of 950 = 0.19
    rows = [(1, 100, 100, 100, 100), (2, 100, 100, 100, 100), (3, 97, 98, 94, 96)]
    plan = {1: [lambda c: c.buy(size=10)], 2: [lambda c: c.buy(size=10, type="limit", limit=95)]}
    got = commissions(fees.maker_taker(maker=0.0002, taker=0.0007), plan, rows)
    assert got == [(2, 10.0, 100.0, 0.7, TAKER), (3, 10.0, 95.0, 0.19, MAKER)]


def test_tiered_fee_by_value_traded_before_the_fill() -> None:
    # rate 0.1% below 1500 traded, 0.05% from 1500: fills of 1000 each -> traded before them
    # 0, 1000, 2000 -> fees 1.0, 1.0, 0.5
    plan = {t: [lambda c: c.buy(size=10)] for t in (1, 2, 3)}
    got = commissions(fees.tiers([(0, 0.001), (1500, 0.0005)]), plan)
    assert [c for _, _, _, c, _ in got] == [1.0, 1.0, 0.5]


@pytest.mark.parametrize(
    ("model", "cash", "units"),
    [
        (fees.percent(0.01), 1000.0, 99),  # floor(1000 / 10.1) = 99 (v1's formula)
        (fees.fixed(5.0), 1000.0, 99),  # floor((1000 - 5) / 10) = 99: 990 + 5 = 995
        (fees.per_share(0.01, minimum=5.0), 1000.0, 99),  # floor(1000 / 10.01) = 99: 990 + 5
        # floor(1003 / 10.01) = 100 costs 1000 + 5 > 1003 -> the search finds 99 (995)
        (fees.per_share(0.01, minimum=5.0), 1003.0, 99),
        (fees.maker_taker(0.0, 0.01), 1000.0, 99),  # a market fill pays the taker rate
    ],
)
def test_all_in_sizing_pays_the_fee_out_of_the_cash(model: Any, cash: float, units: int) -> None:
    fp, tiers = fee_arrays(model.to_params())
    assert affordable(cash, 10.0, 1.0, fp, tiers, TAKER, 0.0) == units
    runner, _ = scripted(
        {1: [lambda c: c.buy()]},
        cash=cash,
        broker={"fees": model},
        strategy={"sizer": sizers.all_in()},
    )
    rows, ev, _ = run(runner, bars([(1, 10, 10, 10, 10), (2, 10, 10, 10, 10)]))
    assert table(ev, "fills", ("size",)) == [(float(units),)]
    assert rows["cash_0"][-1] >= 0.0


# --- slippage ------------------------------------------------------------------------------------


def slipped_fills(model: Any, plan: dict[int, list[Any]], rows: list[Any], **kw: Any) -> list[Any]:
    runner, _ = scripted(plan, broker={"slippage": model}, **kw)
    _, ev, _ = run(runner, bars(rows))
    return table(ev, "fills", ("ts", "side", "size", "price"))


def test_bps_slippage_moves_against_the_trader() -> None:
    # buy @ 100 x (1 + 10 / 1e4) = 100.1; sell @ 100 x (1 - 0.001) = 99.9
    plan = {1: [lambda c: c.buy(size=10)], 2: [lambda c: c.sell(size=10)]}
    assert slipped_fills(slippage.bps(10), plan, FLAT) == [(2, 1, 10.0, 100.1), (3, -1, 10.0, 99.9)]


def test_tick_slippage_uses_the_instruments_tick() -> None:
    # 2 ticks of 0.05 = 0.1
    plan = {1: [lambda c: c.buy(size=10)], 2: [lambda c: c.sell(size=10)]}
    got = slipped_fills(slippage.ticks(2), plan, FLAT, instruments={"X": {"tick_size": 0.05}})
    assert got == [(2, 1, 10.0, 100.1), (3, -1, 10.0, 99.9)]


def test_volume_share_slippage() -> None:
    # impact 0.5 x (10 / volume 100) = 5%: buy @ 105, sell @ 95
    rows = [(t, 100, 100, 100, 100, 100) for t in (1, 2, 3)]
    plan = {1: [lambda c: c.buy(size=10)], 2: [lambda c: c.sell(size=10)]}
    assert slipped_fills(slippage.volume_share(0.5), plan, rows) == [
        (2, 1, 10.0, 105.0),
        (3, -1, 10.0, 95.0),
    ]


def test_volume_share_slippage_with_all_in_sizing() -> None:
    # cash 1000, open 10, volume 1000, impact 1: at 10 the sizer says 100 units; their impact
    # (100 / 1000) gives 11 -> floor(1000 / 11) = 90 units, filled at 10 x (1 + 90 / 1000) = 10.9
    runner, _ = scripted(
        {1: [lambda c: c.buy()]}, cash=1000.0, broker={"slippage": slippage.volume_share(1.0)}
    )
    rows, ev, _ = run(runner, bars([(1, 10, 10, 10, 10, 1000), (2, 10, 10, 10, 10, 1000)]))
    assert table(ev, "fills", ("size", "price")) == [(90.0, 10.9)]
    assert rows["cash_0"][-1] == pytest.approx(1000 - 981)


def test_limit_fills_get_no_slippage_beyond_the_limit_but_stops_do() -> None:
    rows = [(1, 100, 100, 100, 100), (2, 100, 106, 94, 100)]
    plan = {
        1: [
            lambda c: c.buy(size=1, type="limit", limit=95),  # 95 x 1.001 -> capped at 95
            lambda c: c.buy(
                size=1, type="limit", limit=100.05
            ),  # open 100 x 1.001 = 100.1 -> 100.05
            lambda c: c.buy(size=1, type="stop", stop=105),  # a stop is a market order: 105.105
        ]
    }
    got = slipped_fills(slippage.bps(10), plan, rows)
    assert sorted(got) == [(2, 1, 1.0, 95.0), (2, 1, 1.0, 100.05), (2, 1, 1.0, 105.105)]


# --- margin ------------------------------------------------------------------------------------------


def test_without_margin_gross_exposure_never_exceeds_equity_at_entry() -> None:
    # cash 1000: short 100 @ 10 (all_in) -> cash 2000, equity 1000, buying power
    # 1 x 1000 - 1000 = 0: a buy on the second symbol gets 0 units -> REJECTED
    k = make_kernel(
        [{"name": "s", "style": "event", "sizer": sizers.all_in(), "long_only": False}],
        cash=1000.0,
        symbols=("A", "B"),
    )
    from streambt.sim.strategy import EventStrategyRunner

    from . import Script, merge

    script = Script({(1, "A"): [lambda c: c.sell()], (2, "B"): [lambda c: c.buy()]})
    runner = EventStrategyRunner(k, {"s": script})
    a = bars([(1, 10, 10, 10, 10), (2, 10, 10, 10, 10), (3, 10, 10, 10, 10)], symbol=0)
    b = bars([(1, 10, 10, 10, 10), (2, 10, 10, 10, 10), (3, 10, 10, 10, 10)], symbol=1)
    _, ev, _ = run(runner, merge(a, b))
    assert table(ev, "orders", ("order_id", "symbol", "filled", "status", "reason")) == [
        (1, 0, 100.0, 3, 0),
        (2, 1, 0.0, 5, 1),
    ]


def test_leverage_lets_cash_go_negative_and_maintenance_liquidates_at_the_next_open() -> None:
    # leverage 2: all_in buys floor(2 x 1000 / 10) = 200 @ 10 -> cash -1000.
    # equity / gross = (200p - 1000) / 200p < 0.25  <=>  p < 6.667.
    # bar 3 closes at 7: 400 / 1400 = 0.29, fine; bar 4 closes at 6.5: 300 / 1300 = 0.23 ->
    # at that close the strategy's working orders are cancelled (MARGIN_CALL: here the exit it
    # decided at the same close) and a LIQUIDATION order sells 200 at bar 5's open 6.4:
    # cash -1000 + 1280 = 280.
    k = make_kernel(
        [{"name": "s", "sizer": sizers.all_in()}],
        cash=1000.0,
        broker={"margin": {"leverage": 2.0, "maintenance": 0.25}},
    )
    rows_ = [
        (1, 10, 10, 10, 10),
        (2, 10, 10, 10, 10),
        (3, 8, 8, 7, 7),
        (4, 6.8, 6.8, 6.5, 6.5),
        (5, 6.4, 6.6, 6.3, 6.5),
        (6, 6.5, 6.5, 6.5, 6.5),
    ]
    rows, ev, _ = run(k, bars(rows_, signal_0=[1, np.nan, np.nan, -1, np.nan, np.nan]))
    assert rows["cash_0"].tolist() == [1000, -1000, -1000, -1000, 280, 280]
    assert rows["equity_0"].tolist() == pytest.approx([1000, 1000, 400, 300, 280, 280])
    cols = ("order_id", "role", "side", "created_ts", "final_ts", "status", "reason")
    assert table(ev, "orders", cols) == [
        (1, 1, 1, 1, 2, 3, 0),
        (2, 1, -1, 4, 4, 4, 15),  # the exit signal's close, CANCELLED (MARGIN_CALL)
        (3, 5, -1, 4, 5, 3, 0),  # LIQUIDATION
    ]
    assert table(ev, "trades", ("exit_price", "pnl", "exit_reason")) == [(6.4, -720.0, 5)]


def test_short_under_maintenance_is_bought_back() -> None:
    # margin without leverage, maintenance 0.3: short 100 @ 10 -> cash 2000.
    # equity / gross = (2000 - 100p) / 100p < 0.3  <=>  p > 15.38; bar 3 closes at 16 ->
    # buy back 100 at bar 4's open 16.5: cash 2000 - 1650 = 350
    k = make_kernel(
        [{"name": "s", "sizer": sizers.all_in(), "long_only": False}],
        cash=1000.0,
        broker={"margin": {"leverage": 1.0, "maintenance": 0.3}},
    )
    rows_ = [(1, 10, 10, 10, 10), (2, 10, 10, 10, 10), (3, 15, 16, 15, 16), (4, 16.5, 17, 16, 17)]
    rows, ev, _ = run(k, bars(rows_, signal_0=[-1, np.nan, np.nan, np.nan]))
    assert rows["cash_0"].tolist() == [1000, 2000, 2000, 350]
    assert table(ev, "trades", ("side", "exit_ts", "exit_price", "exit_reason")) == [
        (-1, 4, 16.5, 5)
    ]


# --- declarations ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: fees.percent(-0.1), "percent(rate=-0.1): rate must be a finite number >= 0"),
        (lambda: fees.maker_taker(0.002, 0.001), "maker must be in (-1, taker]"),
        (lambda: fees.tiers([(10, 0.001)]), "the first threshold must be 0"),
        (lambda: fees.tiers([(0, 0.001), (0, 0.002)]), "thresholds must increase"),
        (lambda: slippage.bps(float("nan")), "bps(n=nan): n must be a finite number >= 0"),
        (lambda: fees.from_params({"model": "percentt"}), 'Did you mean "percent"?'),
        (lambda: sizers.risk(2.0), "risk(amount=2.0): amount must be in (0, 1]"),
        (lambda: sizers.fixed(2.5), "units must be a whole number"),
        (lambda: sizers.Sizer("all_inn"), 'Did you mean "all_in"?'),
    ],
)
def test_model_validation(make: Any, message: str) -> None:
    with pytest.raises(InvalidParameterError) as err:
        make()
    assert message in str(err.value)

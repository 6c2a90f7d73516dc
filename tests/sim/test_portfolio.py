"""Portfolio: capital by weight, rebalancing, opposite positions, compliance, sizers, v1 parity.

Hand-checked tables (docs/broker.md); no fees unless stated.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from streambt.errors import DataError, InvalidParameterError
from streambt.kernels.base import KERNELS
from streambt.sim import SignalStrategyKernel, all_in, fixed, sizers, target_percent
from streambt.sim.portfolio import PortfolioKernel

from . import Script, bars, merge, run, scripted, table
from . import kernel as make_kernel

NAN = np.nan
FIL, CAN, REJ = 3, 4, 5


def two(
    a: dict[str, Any],
    b: dict[str, Any],
    rows: list[Any],
    sig_a: list[float],
    sig_b: list[float],
    **kw: Any,
) -> tuple[dict[str, Any], dict[str, Any]]:
    k = make_kernel([a, b], **kw)
    r, ev, _ = run(k, bars(rows, signal_0=sig_a, signal_1=sig_b))
    return r, ev


def test_registered_under_the_op_name() -> None:
    assert KERNELS["Portfolio"] is PortfolioKernel


def test_capital_by_weight_and_opposite_positions_on_one_symbol() -> None:
    # weights 3:1 of 10000 -> 7500 and 2500. A buys 10 @ 100, B shorts 10 @ 100.
    # bar 3 closes at 110: A = 6500 + 1100 = 7600, B = 3500 - 1100 = 2400; the portfolio
    # is flat on X (net 0) and its equity is still 10000
    rows, _ = two(
        {"name": "a", "weight": 3, "sizer": fixed(10)},
        {"name": "b", "weight": 1, "sizer": fixed(10, long_only=False)},
        [(1, 100, 100, 100, 100), (2, 100, 100, 100, 100), (3, 105, 110, 105, 110)],
        [1, NAN, NAN],
        [-1, NAN, NAN],
    )
    assert rows["cash_0"].tolist() == [7500, 6500, 6500]
    assert rows["cash_1"].tolist() == [2500, 3500, 3500]
    assert rows["position_0"].tolist() == [0, 10, 10]
    assert rows["position_1"].tolist() == [0, -10, -10]
    assert rows["net_position"].tolist() == [0, 0, 0]
    assert rows["equity_0"].tolist() == [7500, 7500, 7600]
    assert rows["equity_1"].tolist() == [2500, 2500, 2400]
    assert rows["equity"].tolist() == [10_000, 10_000, 10_000]
    assert rows["cash"].tolist() == [10_000, 10_000, 10_000]


def test_periodic_rebalancing_moves_free_cash_to_the_weights() -> None:
    # 50/50: A buys 10 @ 100 (cash 4000), X closes at 150: A = 5500, B = 5000, total 10500.
    # Every 2 timestamps, at the first row of ts 3 (2 timestamps completed): target 5250 each;
    # A gives 250 of its free cash to B. Rows at ts 3: cash 3750 / 5250.
    rows, _ = two(
        {"name": "a", "sizer": fixed(10)},
        {"name": "b", "sizer": fixed(10)},
        [(1, 100, 100, 100, 100), (2, 100, 150, 100, 150), (3, 150, 150, 150, 150)],
        [1, NAN, NAN],
        [NAN, NAN, NAN],
        portfolio={"rebalance_every": 2},
    )
    assert rows["cash_0"].tolist() == [5000, 4000, 3750]
    assert rows["cash_1"].tolist() == [5000, 5000, 5250]
    assert rows["equity_0"].tolist() == [5000, 5500, 5250]


def test_rebalancing_never_takes_more_than_the_free_cash() -> None:
    # A is all in (cash 0, equity 7500 after +50%): it has no free cash to give, nothing moves
    rows, _ = two(
        {"name": "a", "sizer": all_in()},
        {"name": "b", "sizer": fixed(1)},
        [(1, 100, 100, 100, 100), (2, 100, 150, 100, 150), (3, 150, 150, 150, 150)],
        [1, NAN, NAN],
        [NAN, NAN, NAN],
        portfolio={"rebalance_every": 1},
    )
    assert rows["cash_0"].tolist() == [5000, 0, 0]
    assert rows["cash_1"].tolist() == [5000, 5000, 5000]


def test_compliance_scales_an_entry_down_to_the_gross_exposure_limit() -> None:
    # max_gross_exposure 0.5: all_in wants floor(10000 / 100) = 100 units; 0.5 x 10000 / 100
    # = 50 fit -> FILLED 50 of 100, reason COMPLIANCE_SCALED. B's entry finds no room left:
    # REJECTED, COMPLIANCE.
    _, ev = two(
        {"name": "a", "sizer": all_in()},
        {"name": "b", "sizer": fixed(5)},
        [(1, 100, 100, 100, 100), (2, 100, 100, 100, 100), (3, 100, 100, 100, 100)],
        [1, NAN, NAN],
        [NAN, 1, NAN],
        cash=20_000.0,
        portfolio={"max_gross_exposure": 0.25},
    )
    # total equity 20000 x 0.25 = 5000 of gross: A (cash 10000) wants 100, gets 50
    assert table(ev, "orders", ("order_id", "size", "filled", "status", "reason")) == [
        (1, 100.0, 50.0, FIL, 16),
        (2, 5.0, 0.0, REJ, 7),
    ]


def test_compliance_per_symbol_notional() -> None:
    # max_symbol_notional 3000 across strategies: A holds 20 @ 100 = 2000; B's 20 -> 10 fit
    _, ev = two(
        {"name": "a", "sizer": fixed(20)},
        {"name": "b", "sizer": fixed(20)},
        [(1, 100, 100, 100, 100), (2, 100, 100, 100, 100), (3, 100, 100, 100, 100)],
        [1, NAN, NAN],
        [NAN, 1, NAN],
        portfolio={"max_symbol_notional": 3000},
    )
    assert table(ev, "orders", ("order_id", "filled", "reason")) == [(1, 20.0, 0), (2, 10.0, 16)]


def test_exits_are_never_held_back_by_compliance() -> None:
    _, ev = two(
        {"name": "a", "sizer": fixed(20)},
        {"name": "b", "sizer": fixed(1)},
        [(1, 100, 100, 100, 100), (2, 100, 100, 100, 100), (3, 100, 100, 100, 100)],
        [1, -1, NAN],
        [NAN, NAN, NAN],
        portfolio={"max_gross_exposure": 0.2},
    )
    assert table(ev, "orders", ("order_id", "side", "filled", "status")) == [
        (1, 1, 20.0, FIL),
        (2, -1, 20.0, FIL),
    ]


@pytest.mark.parametrize(
    ("sizer", "extra", "units"),
    [
        (sizers.fixed(7), {}, 7.0),
        (sizers.all_in(), {}, 100.0),  # floor(10000 / 100)
        (sizers.percent_equity(0.25), {}, 25.0),  # 0.25 x 10000 / 100
        (target_percent(0.5), {}, 50.0),  # v1's allocation, strength 1
        # risk 1% of 10000 = 100 over a stop distance 100 x 0.05 = 5 -> 20 units (a stop
        # at 95 then loses exactly 20 x 5 = 100)
        (sizers.risk(0.01), {"stop_loss": 0.05}, 20.0),
        (sizers.risk(0.5), {"stop_loss": 0.01}, 100.0),  # wants 5000, capped by the cash
        (sizers.volatility_target(0.02), {"atr": 4.0}, 50.0),  # 0.02 x 10000 / ATR 4
    ],
)
def test_sizers(sizer: Any, extra: dict[str, Any], units: float) -> None:
    spec = {"name": "s", "sizer": sizer, **{k: v for k, v in extra.items() if k != "atr"}}
    k = make_kernel([spec])
    cols = bars([(1, 100, 100, 100, 100), (2, 100, 100, 100, 100)], signal_0=[1, NAN])
    if "atr" in extra:
        cols["atr_0"] = np.array([extra["atr"], NAN])
    assert "atr_0" in k.input_columns() or "atr" not in extra
    _, ev, _ = run(k, cols)
    assert table(ev, "fills", ("size",)) == [(units,)]


def test_volatility_target_without_an_atr_is_rejected_zero_size() -> None:
    k = make_kernel([{"name": "s", "sizer": sizers.volatility_target(0.02)}])
    cols = bars(
        [(1, 100, 100, 100, 100), (2, 100, 100, 100, 100)], signal_0=[1, NAN], atr_0=[NAN, NAN]
    )
    _, ev, _ = run(k, cols)
    assert table(ev, "orders", ("order_id", "size", "status", "reason")) == [(1, 0.0, REJ, 14)]


def test_an_order_decided_at_one_symbols_bar_fills_at_the_next_bar_of_its_own_symbol() -> None:
    # at ts 1 the bar of A (code 0) comes first; a buy of B decided at A's close must not use
    # B's ts-1 bar (its open is earlier than that decision): it fills at B's ts-2 open 21
    runner, _ = scripted({(1, "A"): [lambda c: c.buy(size=1, symbol="B")]}, symbols=("A", "B"))
    a = bars([(1, 10, 10, 10, 10), (2, 11, 11, 11, 11)], symbol=0)
    b = bars([(1, 20, 20, 20, 20), (2, 21, 21, 21, 21)], symbol=1)
    rows, ev, _ = run(runner, merge(a, b))
    assert table(ev, "fills", ("ts", "symbol", "price")) == [(2, 1, 21.0)]
    # rows: (1,A) (1,B) (2,A) (2,B); position_0 is the row's symbol's position
    assert rows["position_0"].tolist() == [0, 0, 0, 1]
    assert rows["equity_0"].tolist() == [10_000, 10_000, 10_000, 10_000]


def test_a_strategy_ignores_symbols_it_does_not_trade() -> None:
    k = make_kernel([{"name": "s", "symbols": ["B"], "sizer": fixed(1)}], symbols=("A", "B"))
    a = bars([(1, 10, 10, 10, 10), (2, 11, 11, 11, 11)], symbol=0, signal_0=[1, NAN])
    b = bars([(1, 20, 20, 20, 20), (2, 21, 21, 21, 21)], symbol=1, signal_0=[NAN, NAN])
    _, ev, _ = run(k, merge(a, b))
    assert table(ev, "orders", ("order_id",)) == []


def test_event_strategy_may_not_trade_outside_its_symbols() -> None:
    runner, _ = scripted(
        {1: [lambda c: c.buy(size=1, symbol="A")]}, symbols=("A", "B"), strategy={"symbols": ["B"]}
    )
    with pytest.raises(InvalidParameterError, match="does not trade 'A'"):
        run(
            runner,
            merge(bars([(1, 10, 10, 10, 10)], symbol=0), bars([(1, 10, 10, 10, 10)], symbol=1)),
        )


# --- v1 parity ------------------------------------------------------------------------------------


def _walk(n: int = 600, seed: int = 2024) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
    open_ = close * np.exp(rng.normal(0, 0.01, n))
    signal = rng.choice(np.array([NAN, NAN, NAN, 1.0, -1.0, 0.3, -0.7]), n)
    return {
        "ts": np.arange(n, dtype=np.int64) * 60_000_000,
        "open": open_,
        "high": np.maximum(open_, close) * 1.01,
        "low": np.minimum(open_, close) * 0.99,
        "close": close,
        "signal": signal,
    }


@pytest.mark.parametrize("commission", [0.0, 0.001, 0.01])
@pytest.mark.parametrize(
    "alloc",
    [all_in(), all_in(False), fixed(7, False), fixed(3), target_percent(0.4, False)],
    ids=lambda a: repr(a),
)
def test_v1_allocations_give_v1s_numbers(alloc: Any, commission: float) -> None:
    cols = _walk()
    v1 = SignalStrategyKernel(cash=10_000.0, commission=commission, **alloc.to_params())
    _, r1, e1 = v1.step_events(v1.init(), cols)
    k = PortfolioKernel(
        symbols=["X"],
        portfolio={"cash": 10_000.0},
        broker={"fees": {"model": "percent", "rate": commission}},
        strategies=[{"name": "s", "sizer": alloc.to_params()}],
    )
    cols2 = {**cols, "symbol": np.zeros(len(cols["ts"]), np.int64), "signal_0": cols["signal"]}
    r2, e2, _ = run(k, cols2)
    for a, b in (("cash", "cash_0"), ("position", "position_0"), ("equity", "equity_0")):
        np.testing.assert_array_equal(r1[a], r2[b], err_msg=a)
    t1, t2 = e1["trades"], e2["trades"]
    for c in (
        "trade_id",
        "side",
        "size",
        "entry_ts",
        "entry_price",
        "exit_ts",
        "exit_price",
        "pnl",
        "commission",
        "entry_order_id",
        "exit_order_id",
        "bars_held",
    ):
        np.testing.assert_array_equal(t1[c], t2[c], err_msg=c)
    done = e2["orders"]["status"] != 2
    o1 = e1["orders"]
    o2 = {c: v[done] for c, v in e2["orders"].items()}
    np.testing.assert_array_equal(o1["order_id"], o2["order_id"])
    np.testing.assert_array_equal(o1["status"], o2["status"])
    np.testing.assert_array_equal(o1["reason"], o2["reason"])
    np.testing.assert_array_equal(
        o1["filled_ts"][o1["status"] == 3], o2["final_ts"][o2["status"] == 3]
    )
    np.testing.assert_array_equal(o1["size"], o2["filled"])
    np.testing.assert_array_equal(o1["commission"], o2["commission"])


# --- validation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"symbols": []}, "pass a non-empty list of distinct symbol names"),
        ({"strategies": [{"name": "s", "stop_loss": 1.5}]}, "stop_loss must be None or a fraction"),
        (
            {"strategies": [{"name": "s", "sizer": sizers.risk(0.01)}]},
            "the risk sizer needs a stop_loss",
        ),
        ({"strategies": [{"name": "s", "symbols": ["Y"]}]}, "trades 'Y', which is not one of"),
        ({"strategies": [{"name": "s"}, {"name": "s"}]}, "strategy names must be distinct"),
        ({"strategies": [{"name": "s", "entry": "limt"}]}, 'Did you mean "limit"?'),
        ({"broker": {"priority": "stop_frist"}}, 'Did you mean "stop_first"?'),
        ({"broker": {"margin": {"leverage": 0.5}}}, "leverage (a number >= 1)"),
        ({"portfolio": {"cash": 0}}, "cash must be a positive finite number"),
        ({"instruments": {"Y": {}}}, "unknown symbol(s) ['Y']"),
        ({"instruments": {"X": {"lot_size": 0}}}, "lot_size must be a finite number > 0"),
    ],
)
def test_parameters_are_validated_when_built(kwargs: dict[str, Any], message: str) -> None:
    base: dict[str, Any] = {
        "symbols": ["X"],
        "strategies": [{"name": "s"}],
        "portfolio": {"cash": 100.0},
    }
    with pytest.raises(InvalidParameterError) as err:
        PortfolioKernel(**{**base, **kwargs})
    assert message in str(err.value)


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([(2, 10, 10, 10, 10), (1, 10, 10, 10, 10)], "strictly increasing in (ts, symbol)"),
        ([(1, 10, 10, 10, 10), (1, 10, 10, 10, 10)], "strictly increasing in (ts, symbol)"),
        ([(1, NAN, 10, 10, 10)], "prices must be finite and > 0"),
        ([(1, 10, 9, 8, 10)], "a bar needs low <= open, close <= high"),
    ],
)
def test_bad_rows_raise_data_error_and_leave_the_state_alone(rows: list[Any], message: str) -> None:
    k = make_kernel([{"name": "s"}])
    state = k.init()
    before = {name: a.copy() for name, a in state.items()}
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        k.step_events(state, bars(rows, signal_0=[NAN] * len(rows)))
    for name, a in state.items():
        np.testing.assert_array_equal(a, before[name])


def test_unknown_symbol_code_raises() -> None:
    k = make_kernel([{"name": "s"}])
    cols = bars([(1, 10, 10, 10, 10)], symbol=3, signal_0=[NAN])
    with pytest.raises(DataError, match="symbol code 3 at row 0"):
        k.step_events(k.init(), cols)


def test_script_helper_is_an_event_strategy() -> None:
    assert issubclass(Script, __import__("streambt.sim.strategy", fromlist=["Strategy"]).Strategy)

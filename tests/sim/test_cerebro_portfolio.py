"""The portfolio broker through Cerebro: brackets, weights, sizers, event strategies, sweeps.

The kernel's rules are tested in the other files of this folder; these tests
check the wiring: what ``cb.add_strat(stop_loss=...)``, ``cb.add_strategy``,
``cb.broker`` and ``cb.portfolio`` compile to, that every local engine and
every chunking gives the same tables, and the tables' invariants.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import streambt as sb
from streambt.ops.base import OpKind
from streambt.sim.portfolio import PortfolioKernel
from tests.parity.test_parity import assert_tables_equal

TABLES = ("orders", "order_events", "fills", "trades", "equity", "positions", "metrics")


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    a = sb.feeds.synthetic_bars(400, seed=3).assign(symbol="AAA")
    b = sb.feeds.synthetic_bars(300, seed=4, start="2020-02-01", price=40.0).assign(symbol="BBB")
    c = sb.feeds.synthetic_bars(350, seed=5, price=250.0).assign(symbol="CCC")
    return pd.concat([a, b, c], ignore_index=True)


def two_strategies(frame: pd.DataFrame, **portfolio: object) -> sb.Cerebro:
    """A long-only bracket strategy and a long/short trailing one, sharing 100k by 3:1."""
    cb = sb.Cerebro(cash=100_000, commission=0.001)
    data = cb.add_data(sb.feeds.from_pandas(frame))
    fast = cb.add_indicator(sb.ind.sma, data["close"], window=5)
    slow = cb.add_indicator(sb.ind.sma, data["close"], window=20)
    ema = cb.add_indicator(sb.ind.ema, data["close"], window=12)
    cb.add_strat(
        cb.add_indicator(sb.sig.cross, fast, slow),
        sb.sizers.percent_equity(0.3),
        name="brackets",
        stop_loss=0.03,
        take_profit=0.05,
        weight=3.0,
    )
    cb.add_strat(
        cb.add_indicator(sb.sig.cross, ema, slow),
        sb.alloc.target_percent(0.5, long_only=False),
        name="trailing",
        trailing_stop=0.04,
        weight=1.0,
    )
    if portfolio:
        cb.portfolio(**portfolio)  # type: ignore[arg-type]
    return cb


def assert_same_run(got: sb.Result, want: sb.Result, what: str) -> None:
    for table in TABLES:
        assert_tables_equal(getattr(got, table), getattr(want, table), f"{what}/{table}")


def test_one_portfolio_node_holds_every_strategy(frame: pd.DataFrame) -> None:
    cb = two_strategies(frame)
    plan = cb.plan()
    sims = [n for s in plan.stages_of("simulate") for n in s.nodes]
    assert [n.op.short for n in sims] == ["portfolio"]
    assert [s["name"] for s in sims[0].param_dict["strategies"]] == ["brackets", "trailing"]
    assert "one portfolio broker kernel" in cb.explain(show=False)
    # the declared graph is untouched: one node per strategy
    assert len(cb.graph.of_kind(OpKind.SIMULATION)) == 2


@pytest.mark.parametrize(
    ("mode", "options"),
    [
        ("batch", {"placement": "kernels"}),
        ("stream", {"micro_batch": 1}),
        ("stream", {"micro_batch": 7}),
        ("stream", {"micro_batch": 500}),
    ],
    ids=["kernels", "stream-rowwise", "stream-7", "stream-500"],
)
def test_every_local_engine_and_chunking_agree(
    frame: pd.DataFrame, mode: str, options: dict[str, object]
) -> None:
    want = two_strategies(frame).run()
    assert want.trades.num_rows > 10
    assert_same_run(two_strategies(frame).run(mode=mode, **options), want, f"{mode}{options}")


def test_polars_agrees(frame: pd.DataFrame) -> None:
    assert_same_run(two_strategies(frame).run("polars"), two_strategies(frame).run(), "polars")


def test_tables_are_consistent(frame: pd.DataFrame) -> None:
    res = two_strategies(frame).run()
    eq = res.equity.to_pandas()
    assert set(eq["strategy"]) == {"brackets", "trailing", "portfolio"}
    assert set(eq["symbol"]) == {"*"}
    wide = eq.pivot(index="ts", columns="strategy", values="equity")
    np.testing.assert_allclose(wide["portfolio"], wide["brackets"] + wide["trailing"], rtol=1e-12)
    assert wide.index.is_unique and len(wide) == frame["ts"].nunique()
    # equity = cash + sum(position x last close), per strategy, at every timestamp
    pos = res.positions.to_pandas()
    for name in ("brackets", "trailing"):
        p = pos[pos["strategy"] == name].pivot(index="ts", columns="symbol", values="value")
        p = p.reindex(wide.index).ffill().fillna(0.0)
        cash = eq[eq["strategy"] == name].set_index("ts")["cash"]
        np.testing.assert_allclose(
            wide[name], cash + p.sum(axis=1), rtol=1e-9, err_msg=f"{name}: equity != cash + value"
        )
    # the portfolio's net position is the sum of the strategies'
    net = pos[pos["strategy"] == "portfolio"].set_index(["symbol", "ts"])["position"]
    parts = pos[pos["strategy"] != "portfolio"].groupby(["symbol", "ts"])["position"].sum()
    np.testing.assert_allclose(net.loc[parts.index], parts, rtol=1e-12)
    # both directions on one symbol at once are possible: the trailing strategy shorts
    assert (pos[pos["strategy"] == "trailing"]["position"] < 0).any()
    # every fill's order exists; order_events hold each order's history ending in its status
    orders = res.orders.to_pandas()
    assert set(res.fills.column("order_id").to_pylist()) <= set(orders["order_id"])
    last = res.order_events.to_pandas().groupby("order_id")["status"].last()
    final = orders.set_index("order_id")["status"]
    assert (last.loc[final.index] == final).all()
    assert set(orders["currency"]) == {"USD"}
    assert {"STOP_LOSS", "TAKE_PROFIT", "TRAILING_STOP", "SIGNAL"} <= set(orders["role"])


def test_metrics_per_strategy_and_portfolio(frame: pd.DataFrame) -> None:
    res = two_strategies(frame).run()
    m = res.metrics.to_pandas().set_index("strategy")
    assert m.loc["brackets", "initial_cash"] == 75_000.0
    assert m.loc["trailing", "initial_cash"] == 25_000.0
    assert m.loc["portfolio", "initial_cash"] == 100_000.0
    trades = res.trades.to_pandas().groupby("strategy").size()
    assert m.loc["brackets", "trades"] == trades["brackets"]
    assert m.loc["portfolio", "trades"] == trades.sum()
    final = res.equity.to_pandas().groupby("strategy")["equity"].last()
    np.testing.assert_allclose(m["final_equity"], final.loc[m.index], rtol=1e-12)


def test_equals_the_kernel_run_directly(frame: pd.DataFrame) -> None:
    """The host adds no rule: the Cerebro run is the kernel fed by (ts, symbol)."""
    cb = sb.Cerebro(cash=50_000)
    data = cb.add_data(sb.feeds.from_pandas(frame))
    fast = cb.add_indicator(sb.ind.sma, data["close"], window=5)
    slow = cb.add_indicator(sb.ind.sma, data["close"], window=20)
    pulse = cb.add_indicator(sb.sig.cross, fast, slow)
    cb.add_strat(pulse, sb.sizers.risk(0.01), name="r", stop_loss=0.02, take_profit=0.06)
    res = cb.run()
    f = res.factors.to_pandas().sort_values(["ts", "symbol"], kind="stable")
    kernel = PortfolioKernel(
        symbols=["AAA", "BBB", "CCC"],
        portfolio={"cash": 50_000.0},
        strategies=[
            {
                "name": "r",
                "sizer": {"sizer": "risk", "amount": 0.01},
                "stop_loss": 0.02,
                "take_profit": 0.06,
            }
        ],
    )
    cols = {
        "ts": pa.array(f["ts"]).cast(pa.int64()).to_numpy(),
        "symbol": f["symbol"].map({"AAA": 0, "BBB": 1, "CCC": 2}).to_numpy(),
        **{c: f[c].to_numpy() for c in ("open", "high", "low", "close")},
        "signal_0": f[pulse.column].to_numpy(),
    }
    _, _, events = kernel.step_events(kernel.init(), cols)
    np.testing.assert_array_equal(res.trades.column("pnl").to_numpy(), events["trades"]["pnl"])
    assert res.trades.num_rows > 5


class CrossEvents(sb.Strategy):
    """The pulse rule of a long-only all-in SMA cross, written as callbacks."""

    def __init__(self, stop: float = 0.03) -> None:
        self.stop = stop
        self.seen: list[str] = []

    def on_bar(self, ctx, bar):
        if np.isnan(bar.signal):
            return
        if bar.signal > 0 and ctx.position() == 0:
            ctx.buy()  # sized at the fill by the strategy's sizer (all-in)
        elif bar.signal < 0 and ctx.position() > 0:
            ctx.close()

    def on_stop(self, ctx):
        self.seen.append("stop")


def test_event_strategy_equals_the_pulse_strategy(frame: pd.DataFrame) -> None:
    one = frame[frame["symbol"] == "AAA"]

    def build(event: bool) -> sb.Cerebro:
        cb = sb.Cerebro(cash=10_000)
        data = cb.add_data(sb.feeds.from_pandas(one))
        fast = cb.add_indicator(sb.ind.sma, data["close"], window=5)
        slow = cb.add_indicator(sb.ind.sma, data["close"], window=20)
        pulse = cb.add_indicator(sb.sig.cross, fast, slow)
        if event:
            cb.add_strategy(CrossEvents, data, name="s", columns={"signal": pulse})
        else:
            cb.add_strat(pulse, sb.alloc.all_in(), name="s", weight=1.0)
        return cb

    got, want = build(True).run(), build(False).run()
    assert want.trades.num_rows > 3
    for table in ("fills", "trades", "equity"):
        assert_tables_equal(getattr(got, table), getattr(want, table), table)
    assert_same_run(build(True).run(mode="stream", micro_batch=9), got, "event stream")


def test_event_strategy_ids_follow_the_class_source() -> None:
    cb = sb.Cerebro()
    data = cb.add_data(sb.feeds.synthetic("X", bars=60))
    a = cb.add_strategy(CrossEvents, data, name="a", stop=0.03)
    b = cb.add_strategy(CrossEvents, data, name="b", stop=0.05)
    assert a.node.param_dict["strategy_class"] == b.node.param_dict["strategy_class"]
    assert a.node.param_dict["kwargs"] == {"stop": 0.03}

    class Edited(CrossEvents):
        def on_stop(self, ctx):
            self.seen.append("edited")

    c = cb.add_strategy(Edited, data, name="c")
    assert c.node.param_dict["strategy_class"] != a.node.param_dict["strategy_class"]


def test_portfolio_limits_and_instruments(frame: pd.DataFrame) -> None:
    loose = two_strategies(frame).run()
    tight = two_strategies(
        frame,
        max_gross_exposure=0.2,
        instruments={"AAA": sb.Instrument(lot_size=10, tick_size=0.05, currency="EUR")},
    ).run()
    orders = tight.orders.to_pandas()
    assert set(orders[orders["symbol"] == "AAA"]["currency"]) == {"EUR"}
    by_currency = tight.positions.to_pandas().groupby(["strategy", "currency"]).size()
    assert by_currency.loc[("portfolio", "EUR")] == (frame["symbol"] == "AAA").sum()
    assert by_currency.loc[("portfolio", "USD")] == (frame["symbol"] != "AAA").sum()
    aaa = tight.fills.to_pandas()
    assert (aaa[aaa["symbol"] == "AAA"]["size"] % 10 == 0).all()
    assert {"COMPLIANCE_SCALED", "COMPLIANCE"} & set(orders["reason"])
    assert not (
        {"COMPLIANCE_SCALED", "COMPLIANCE"} & set(loose.orders.column("reason").to_pylist())
    )
    # an entry never takes gross exposure above the limit (prices may move it later)
    eq = tight.equity.to_pandas()
    eq = eq[eq["strategy"] == "portfolio"].set_index("ts")
    fills = tight.fills.to_pandas()
    entry_times = fills[fills["order_id"].isin(orders[orders["role"] == "SIGNAL"]["order_id"])][
        "ts"
    ]
    at_entry = eq.loc[eq.index.isin(entry_times)]
    assert len(at_entry) > 0
    assert (at_entry["position"] <= 0.2 * at_entry["equity"] * 1.05).all()


def test_warm_up_bars_reach_no_broker(frame: pd.DataFrame) -> None:
    cb = sb.Cerebro(cash=10_000)
    one = frame[frame["symbol"] == "AAA"]
    start = one["ts"].iloc[100]
    data = cb.add_data(sb.feeds.from_pandas(one, start=start))
    pulse = cb.add_indicator(
        sb.sig.cross,
        cb.add_indicator(sb.ind.sma, data["close"], window=5),
        cb.add_indicator(sb.ind.sma, data["close"], window=20),
    )
    cb.add_strat(pulse, sb.alloc.all_in(), name="s", stop_loss=0.05)
    res = cb.run()
    first = pd.Timestamp(start).tz_localize("UTC") if pd.Timestamp(start).tz is None else start
    assert pc.min(res.equity.column("ts")).as_py() == first
    assert pc.min(res.orders.column("created_ts")).as_py() >= first


def test_sweep_gives_each_cell_its_own_portfolio(frame: pd.DataFrame) -> None:
    def build(fast: object, stop: object) -> sb.Cerebro:
        cb = sb.Cerebro(cash=10_000)
        data = cb.add_data(sb.feeds.from_pandas(frame))
        f = cb.add_indicator(sb.ind.sma, data["close"], window=fast)
        s = cb.add_indicator(sb.ind.sma, data["close"], window=20)
        cb.add_strat(
            cb.add_indicator(sb.sig.cross, f, s), sb.alloc.all_in(), name="x", stop_loss=stop
        )
        return cb

    cb = build(sb.param("fast"), sb.param("sl"))
    cb.sweep({"fast": [5, 8], "sl": [0.02, 0.05]})
    res = cb.run()
    names = set(res.equity.column("strategy").to_pylist())
    assert "x[fast=8,sl=0.02]" in names and "portfolio[fast=8,sl=0.02]" in names
    assert len(names) == 8
    ranking = res.ranking("total_return")
    assert set(ranking.column("fast").to_pylist()) == {5, 8}
    single = build(8, 0.02).run()
    got = res.trades.filter(pc.equal(res.trades.column("strategy"), "x[fast=8,sl=0.02]"))
    np.testing.assert_array_equal(got.column("pnl"), single.trades.column("pnl"))


def test_plain_v1_strategies_keep_one_account_each(frame: pd.DataFrame) -> None:
    cb = sb.Cerebro(cash=10_000)
    data = cb.add_data(sb.feeds.from_pandas(frame))
    pulse = cb.add_indicator(
        sb.sig.cross,
        cb.add_indicator(sb.ind.sma, data["close"], window=5),
        cb.add_indicator(sb.ind.sma, data["close"], window=20),
    )
    cb.add_strat(pulse, sb.alloc.all_in(), name="v1")
    assert not cb.uses_portfolio()
    res = cb.run()
    assert set(res.equity.column("symbol").to_pylist()) == {"AAA", "BBB", "CCC"}
    assert res.positions.num_rows == res.equity.num_rows
    assert res.order_events.num_rows == 0
    # the same one-symbol strategy on the portfolio broker gives the same trades
    one = frame[frame["symbol"] == "AAA"]
    runs = []
    for portfolio in (False, True):
        cb = sb.Cerebro(cash=10_000, commission=0.001)
        data = cb.add_data(sb.feeds.from_pandas(one))
        pulse = cb.add_indicator(
            sb.sig.cross,
            cb.add_indicator(sb.ind.sma, data["close"], window=5),
            cb.add_indicator(sb.ind.sma, data["close"], window=20),
        )
        cb.add_strat(pulse, sb.alloc.all_in(long_only=False), name="s")
        if portfolio:
            cb.portfolio()
        runs.append(cb.run())
    v1, port = runs
    for col in ("entry_ts", "exit_ts", "size", "entry_price", "exit_price", "pnl"):
        np.testing.assert_allclose(
            port.trades.column(col).cast(pa.float64() if col[-2:] != "ts" else pa.int64()),
            v1.trades.column(col).cast(pa.float64() if col[-2:] != "ts" else pa.int64()),
            rtol=1e-12,
            err_msg=col,
        )


def test_to_dir_writes_the_portfolio_tables(frame: pd.DataFrame, tmp_path: object) -> None:
    out = two_strategies(frame).run().to_dir(tmp_path)  # type: ignore[arg-type]
    for name in ("positions.parquet", "order_events.csv", "orders.csv", "trades.csv"):
        assert (out / name).stat().st_size > 0

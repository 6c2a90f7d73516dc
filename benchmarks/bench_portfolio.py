"""The portfolio broker end to end: SMA cross with stop-loss and take-profit.

Usage::

    python benchmarks/bench_portfolio.py                      # both parts, full sizes
    python benchmarks/bench_portfolio.py --bars 200000 --symbols 10 --symbol-bars 20000

Part 1, one symbol x ``--bars`` bars: strict cross of SMA(close, 10) and
SMA(close, 30) decided at a bar's close, long only, all-in at the next open,
fee 0.1 %, a stop-loss at -2 % and a take-profit at +4 % of the entry fill.
streambt runs the graph through Cerebro (``add_strat(stop_loss=, take_profit=)``,
trades, equity, positions); vectorbt computes the same SMAs and signals and runs
``Portfolio.from_signals`` with ``sl_stop`` / ``tp_stop``. Their stop conventions
differ (vectorbt checks stops from the bar after the entry and exits at the stop
price; streambt also checks the entry bar after its open and fills gaps at the
open, docs/broker.md), so trade counts are printed, not required to agree.

Part 2, ``--symbols`` x ``--symbol-bars`` bars in ONE portfolio: the same rule
per symbol, 2 % of equity per entry, sharing one capital; bars per second end to
end. Times are wall seconds, best of ``--repeat`` after one warm-up run; in part 1 the
engines take turns (one run each per round), so that they share the machine's load.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.compute as pc

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from common import (  # noqa: E402
    Timing,
    machine_info,
    next_open_signals,
    synthetic_bars,
    time_best_of,
    vbt_all_in,
    write_json,
)
from peers.peer_runs import strict_cross  # noqa: E402

FAST, SLOW, FEE, CASH, SL, TP = 10, 30, 0.001, 10_000.0, 0.02, 0.04


def streambt_one(df: pd.DataFrame, placement: str) -> dict[str, Any]:
    import streambt as sb

    cb = sb.Cerebro(cash=CASH, commission=FEE)
    data = cb.add_data(sb.feeds.from_pandas(df, symbol="SYN"))
    fast = cb.add_indicator(sb.ind.sma, data["close"], window=FAST)
    slow = cb.add_indicator(sb.ind.sma, data["close"], window=SLOW)
    pulse = cb.add_indicator(sb.sig.cross, fast, slow)
    cb.add_strat(pulse, sb.alloc.all_in(), name="sma_sl_tp", stop_loss=SL, take_profit=TP)
    res = cb.run(placement=placement)
    eq = res.equity
    return {"trades": res.trades.num_rows, "final_equity": eq.column("equity")[-1].as_py()}


def vectorbt_one(df: pd.DataFrame) -> dict[str, Any]:
    import vectorbt as vbt

    index = pd.DatetimeIndex(df["ts"]).tz_convert("UTC").tz_localize(None)
    close = pd.Series(df["close"].to_numpy(), index=index)
    fast = vbt.MA.run(close, FAST).ma.to_numpy()
    slow = vbt.MA.run(close, SLOW).ma.to_numpy()
    cross = strict_cross(fast, slow)
    entries, exits = next_open_signals(cross)
    pf = vbt.Portfolio.from_signals(
        close,
        entries=pd.Series(entries, index=index),
        exits=pd.Series(exits, index=index),
        price=pd.Series(df["open"].to_numpy(), index=index),
        open=pd.Series(df["open"].to_numpy(), index=index),
        high=pd.Series(df["high"].to_numpy(), index=index),
        low=pd.Series(df["low"].to_numpy(), index=index),
        sl_stop=SL,
        tp_stop=TP,
        **vbt_all_in(FEE, CASH),
    )
    return {"trades": int(pf.trades.closed.count()), "final_equity": float(pf.value().iloc[-1])}


def many_symbols(symbols: int, bars: int, seed: int) -> pd.DataFrame:
    frames = [
        synthetic_bars(bars, seed=seed + i, price0=50.0 + i).assign(symbol=f"S{i:03d}")
        for i in range(symbols)
    ]
    return pd.concat(frames, ignore_index=True)


def streambt_portfolio(df: pd.DataFrame, placement: str) -> dict[str, Any]:
    import streambt as sb

    cb = sb.Cerebro(cash=1_000_000.0, commission=FEE)
    data = cb.add_data(sb.feeds.from_pandas(df))
    fast = cb.add_indicator(sb.ind.sma, data["close"], window=FAST)
    slow = cb.add_indicator(sb.ind.sma, data["close"], window=SLOW)
    pulse = cb.add_indicator(sb.sig.cross, fast, slow)
    cb.add_strat(pulse, sb.sizers.percent_equity(0.02), name="book", stop_loss=SL, take_profit=TP)
    res = cb.run(placement=placement)
    eq = res.equity.filter(pc.equal(res.equity.column("strategy"), "portfolio"))
    return {
        "trades": res.trades.num_rows,
        "orders": res.orders.num_rows,
        "final_equity": eq.column("equity")[-1].as_py(),
    }


def interleaved(fns: dict[str, Callable[[], Any]], repeat: int) -> dict[str, Timing]:
    """Best of ``repeat`` per engine, the engines timed in turn (one run each per round): on
    a shared machine every engine sees the same load, so their ratios hold."""
    timings = {name: time_best_of(fn, repeat=0) for name, fn in fns.items()}  # warm-up runs
    for _ in range(repeat):
        for name, fn in fns.items():
            t = time_best_of(fn, repeat=1, warmup=0)
            timings[name].runs += t.runs
            timings[name].value = t.value
    return timings


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bars", type=int, default=1_000_000)
    p.add_argument("--symbols", type=int, default=100)
    p.add_argument("--symbol-bars", type=int, default=100_000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--part", choices=("1", "2", "both"), default="both")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    report: dict[str, Any] = {"machine": machine_info(), "args": vars(args) | {"json": None}}

    if args.part in ("1", "both"):
        df = synthetic_bars(args.bars, seed=args.seed)
        print(f"part 1: {args.bars:,} bars, engines in turn ...", file=sys.stderr, flush=True)
        timings = interleaved(
            {
                "streambt": functools.partial(streambt_one, df, "relational"),
                "streambt-kernels": functools.partial(streambt_one, df, "kernels"),
                "vectorbt": functools.partial(vectorbt_one, df),
            },
            repeat=args.repeat,
        )
        one: dict[str, Any] = {
            name: {"best_s": t.best, "runs_s": t.runs, **t.value} for name, t in timings.items()
        }
        vbt_s = one["vectorbt"]["best_s"]
        for r in one.values():
            r["x_vectorbt"] = r["best_s"] / vbt_s
        report["one_symbol"] = one

    if args.part in ("2", "both"):
        df = many_symbols(args.symbols, args.symbol_bars, args.seed)
        many: dict[str, Any] = {}
        for placement in ("relational", "kernels"):
            name = "streambt" if placement == "relational" else "streambt-kernels"
            print(f"part 2: {name} on {len(df):,} bars ...", file=sys.stderr, flush=True)
            t = time_best_of(
                functools.partial(streambt_portfolio, df, placement), repeat=args.repeat
            )
            many[name] = {"best_s": t.best, "bars_per_s": len(df) / t.best, **t.value}
        report["portfolio"] = many

    m = report["machine"]
    report["load_average"] = os.getloadavg()
    print(f"machine: {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB, Python {m['python']}")
    print(
        "load average (1, 5, 15 min) at the end: " + ", ".join(f"{x:.1f}" for x in os.getloadavg())
    )
    print("versions: " + ", ".join(f"{k} {v}" for k, v in m["packages"].items()))
    for name, r in report.get("one_symbol", {}).items():
        print(
            f"1 x {args.bars:,} bars  {name:<17} {r['best_s']:8.3f} s  "
            f"{r['x_vectorbt']:5.2f}x vectorbt  trades {r['trades']:,}  "
            f"final equity {r['final_equity']:,.2f}"
        )
    for name, r in report.get("portfolio", {}).items():
        print(
            f"{args.symbols} x {args.symbol_bars:,} bars, one portfolio  {name:<17} "
            f"{r['best_s']:8.3f} s  {r['bars_per_s']:,.0f} bars/s  trades {r['trades']:,}  "
            f"orders {r['orders']:,}"
        )
    if args.json:
        write_json(args.json, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

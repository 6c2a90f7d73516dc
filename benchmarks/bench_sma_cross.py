"""SMA-cross 10/30 long-only all-in backtest: streambt vs vectorbt vs backtrader.

Usage::

    python benchmarks/bench_sma_cross.py                 # 1,000,000 bars; backtrader on 100,000, scaled
    python benchmarks/bench_sma_cross.py --bars 200000 --json runs/bench.json
    python benchmarks/bench_sma_cross.py --full          # backtrader on every bar too (slow)

All engines run the same rules: strict cross of SMA(close, 10) and SMA(close, 30)
decided at a bar's close, market fill at the next bar's open, all-in with whole
units (``floor(cash / (open * (1 + fee)))``), fee 0.1 % of traded value per fill,
cash 10,000. Times are wall seconds, warm (one untimed run first, for JIT and
caches), best of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path
from typing import Any

import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))  # the peers' backtrader strategy and strict cross

from common import (  # noqa: E402
    Timing,
    machine_info,
    next_open_signals,
    synthetic_bars,
    time_best_of,
    vbt_all_in,
    write_json,
)
from peers.peer_runs import SmaCross, backtrader_cerebro, strict_cross, to_peer_frame  # noqa: E402

RULES = SmaCross(fast=10, slow=30, cash=10_000.0, commission=0.001, long_only=True)
ENGINES = ("streambt", "streambt-kernels", "vectorbt", "backtrader")


# ------------------------------------------------------------------------ engines


def streambt_available() -> str | None:
    """None if ``streambt.Cerebro`` can run, else why not."""
    try:
        import streambt as sb

        sb.Cerebro  # noqa: B018
    except (ImportError, AttributeError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def run_streambt(df: pd.DataFrame, placement: str = "relational") -> dict[str, Any]:
    """Build the graph, run it on DuckDB (batch), and materialize trades and equity.

    ``placement="relational"`` (the default) runs the SMAs and the cross as one
    Ibis expression in DuckDB; ``"kernels"`` runs every node as a kernel in one
    pass over the in-memory bars.
    """
    import streambt as sb

    cb = sb.Cerebro(cash=RULES.cash, commission=RULES.commission)
    data = cb.add_data(sb.feeds.from_pandas(df, symbol="SYN"))
    fast = cb.add_indicator(sb.ind.sma, data["close"], window=RULES.fast)
    slow = cb.add_indicator(sb.ind.sma, data["close"], window=RULES.slow)
    pulse = cb.add_indicator(sb.sig.cross, fast, slow)
    cb.add_strat(pulse, sb.alloc.all_in(long_only=True), name="sma_cross")
    res = cb.run(placement=placement)
    trades, equity = res.trades, res.equity
    final = equity.column("equity")[equity.num_rows - 1].as_py() if equity.num_rows else None
    return {"trades": trades.num_rows, "final_equity": final}


def run_vectorbt(df: pd.DataFrame) -> dict[str, Any]:
    """vbt.MA for the SMAs, the strict cross in numpy, ``Portfolio.from_signals`` at next open."""
    import vectorbt as vbt

    # A tz-aware index makes vectorbt wrap results through object arrays (100x slower);
    # a naive index holding the same UTC times avoids that.
    index = pd.DatetimeIndex(df["ts"]).tz_convert("UTC").tz_localize(None)
    close = pd.Series(df["close"].to_numpy(), index=index, name="close")
    open_ = pd.Series(df["open"].to_numpy(), index=close.index, name="open")
    fast = vbt.MA.run(close, RULES.fast).ma.to_numpy()
    slow = vbt.MA.run(close, RULES.slow).ma.to_numpy()
    cross = strict_cross(fast, slow)
    # Decided at bar i's close, filled at bar i+1's open: shift the signals by one bar.
    entries, exits = next_open_signals(cross)
    pf = vbt.Portfolio.from_signals(
        close,
        entries=pd.Series(entries, index=close.index),
        exits=pd.Series(exits, index=close.index),
        price=open_,
        **vbt_all_in(RULES.commission, RULES.cash),
    )
    closed = pf.trades.closed
    equity = pf.value()
    return {"trades": int(closed.count()), "final_equity": float(equity.iloc[-1])}


def run_backtrader(df: pd.DataFrame) -> dict[str, Any]:
    """The peer oracle's backtrader strategy (cheat-on-open, sized at the fill's open)."""
    cerebro = backtrader_cerebro(to_peer_frame(df), RULES, minutes=True)
    (strat,) = cerebro.run()
    return {"trades": len(strat.rows), "final_equity": float(cerebro.broker.getvalue())}


RUNNERS = {
    "streambt": run_streambt,
    "streambt-kernels": functools.partial(run_streambt, placement="kernels"),
    "vectorbt": run_vectorbt,
    "backtrader": run_backtrader,
}


# ---------------------------------------------------------------------- reporting


def _print_report(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:  # piped to a file: do not wrap at 80 columns
        console = Console(width=120)
    m = report["machine"]
    console.print(
        f"[bold]SMA cross 10/30, long only, all-in, fee 0.1 %[/bold] on 1 symbol x "
        f"{report['bars']:,} synthetic 1-minute bars (seed {report['seed']})"
    )
    console.print(
        f"machine: {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB RAM, {m['os']}, "
        f"Python {m['python']}"
    )
    console.print("versions: " + ", ".join(f"{k} {v}" for k, v in m["packages"].items()))
    console.print(
        f"protocol: {report['warmup']} warm-up run, then best of {report['repeat']}; "
        "wall seconds, end to end (graph/portfolio build, indicators, signals, "
        "simulation, trades and equity)"
    )

    table = Table(show_lines=False)
    for col, just in (
        ("engine", "left"),
        ("bars timed", "right"),
        ("best s (timed)", "right"),
        (f"s at {report['bars']:,} bars", "right"),
        ("x streambt", "right"),
        ("trades", "right"),
        ("final equity", "right"),
    ):
        table.add_column(col, justify=just)  # type: ignore[arg-type]
    for name, r in report["engines"].items():
        if "skipped" in r:
            table.add_row(name, "-", "-", "skipped", "-", "-", "-")
            continue
        scaled = r["seconds"]
        note = " (scaled)" if r["scaled"] else ""
        ratio = report["ratios"].get(f"{name}/streambt")
        eq = r.get("final_equity")
        table.add_row(
            name,
            f"{r['bars_timed']:,}",
            f"{r['best_s']:.3f}",
            f"{scaled:.3f}{note}",
            f"{ratio:.2f}" if ratio is not None else "-",
            f"{r['trades']:,}",
            f"{eq:,.2f}" if eq is not None else "-",
        )
    console.print(table)
    for line in report["notes"]:
        console.print(f"- {line}")


def _compare(
    checks: dict[str, bool], a: str, ra: dict[str, Any], b: str, rb: dict[str, Any], bars: int
) -> str:
    ok = ra["trades"] == rb["trades"]
    checks[f"{a}_vs_{b}_trades"] = ok
    line = f"on {bars:,} bars: {a} {ra['trades']:,} trades, {b} {rb['trades']:,}: " + (
        "agree" if ok else "DIFFER"
    )
    ea, eb = ra.get("final_equity"), rb.get("final_equity")
    if ea is not None and eb is not None:
        line += f"; final equity {ea:,.6f} vs {eb:,.6f} (relative difference {abs(ea - eb) / abs(eb):.1e})"
    return line


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bars", type=int, default=1_000_000, help="bars of the synthetic symbol")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--repeat", type=int, default=3, help="timed runs per engine (best is kept)")
    p.add_argument(
        "--bt-bars",
        type=int,
        default=100_000,
        help="bars backtrader is timed on, scaled linearly to --bars (default 100,000)",
    )
    p.add_argument("--full", action="store_true", help="time backtrader on all --bars bars")
    p.add_argument(
        "--engines",
        default=",".join(ENGINES),
        help=f"comma-separated subset of {', '.join(ENGINES)}",
    )
    p.add_argument("--json", type=Path, help="write the numbers to this JSON file")
    args = p.parse_args(argv)

    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = sorted(set(engines) - set(ENGINES))
    if unknown:
        p.error(f"unknown engine(s) {unknown}; choose from {', '.join(ENGINES)}")

    df = synthetic_bars(args.bars, seed=args.seed)
    bt_bars = args.bars if args.full else min(args.bt_bars, args.bars)
    notes: list[str] = []
    results: dict[str, dict[str, Any]] = {}

    for name in engines:
        if name.startswith("streambt") and (why := streambt_available()):
            results[name] = {"skipped": why}
            notes.append(f"{name} skipped: {why}")
            continue
        n = bt_bars if name == "backtrader" else args.bars
        frame = df if n == args.bars else df.iloc[:n].reset_index(drop=True)
        print(f"timing {name} on {n:,} bars ...", file=sys.stderr, flush=True)
        t: Timing = time_best_of(functools.partial(RUNNERS[name], frame), repeat=args.repeat)
        scale = args.bars / n
        results[name] = {
            "bars_timed": n,
            "runs_s": t.runs,
            "best_s": t.best,
            "seconds": t.best * scale,
            "scaled": n != args.bars,
            **t.value,
        }
        if n != args.bars:
            notes.append(
                f"{name} was timed on the first {n:,} bars and its time scaled linearly "
                f"x{scale:g} to {args.bars:,} bars (use --full to run them all); its trades "
                f"and final equity are for those {n:,} bars."
            )

    base = results.get("streambt", {}).get("seconds")
    ratios = {
        f"{name}/streambt": r["seconds"] / base
        for name, r in results.items()
        if name != "streambt" and base and "seconds" in r
    }

    # Same work? Trade counts must agree on the same bars; final equity is shown too.
    checks: dict[str, bool] = {}
    sb_r, vbt_r = results.get("streambt", {}), results.get("vectorbt", {})
    if "trades" in sb_r and "trades" in vbt_r:
        notes.append(_compare(checks, "streambt", sb_r, "vectorbt", vbt_r, args.bars))
    bt_r = results.get("backtrader", {})
    if "trades" in bt_r:
        n = bt_r["bars_timed"]
        ref = vbt_r if n == args.bars and "trades" in vbt_r else None
        if ref is None:
            ref = run_vectorbt(df.iloc[:n].reset_index(drop=True))
        notes.append(_compare(checks, "backtrader", bt_r, "vectorbt", ref, n))
    notes.append("x streambt = engine seconds / streambt seconds (above 1: streambt is faster).")

    report = {
        "benchmark": "sma_cross_10_30_long_only_all_in",
        "bars": args.bars,
        "seed": args.seed,
        "warmup": 1,
        "repeat": args.repeat,
        "machine": machine_info(),
        "engines": results,
        "ratios": ratios,
        "checks": checks,
        "notes": notes,
    }
    _print_report(report)
    if args.json:
        write_json(args.json, report)
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""Parameter sweep, SMA cross fast x slow: streambt on Spark against vectorbt (and DuckDB).

Usage::

    python benchmarks/bench_sweep.py                  # 100 cells x 100 symbols x 100,000 bars
    python benchmarks/bench_sweep.py --quick          # 100 cells x 4 symbols x 20,000 bars
    python benchmarks/bench_sweep.py --symbols 10 --bars 50000 --engines spark,vectorbt
    python benchmarks/bench_sweep.py --spark-sweep-key cell --spark-placement relational

The grid is SMA(close, fast) crossing SMA(close, slow), fast in 5, 10, ..., 50
and slow in 60, 70, ..., 150: 100 cells, each run on every symbol. The rules
are those of ``bench_sma_cross.py``: strict cross decided at a bar's close,
market fill at the next bar's open, long only, all in with whole units, fee
0.1 % per fill, cash 10,000. The bars are a Parquet dataset partitioned by
symbol (``symbol=S000/part-0.parquet``) of seeded synthetic one-minute bars,
written once under ``benchmarks/out/`` and reused.

Every engine runs in its own process and produces the same thing: every
closed trade of every (cell, symbol), summed per (cell, symbol) into a trade
count and a net PnL, which the script compares across engines (counts equal,
PnL to 1e-6 relative).

- ``spark``: one ``cb.run(backend="spark", collect=("trades",))`` over the whole
  dataset, read by Spark (no bar passes through the driver); ``local[2]``.
  Its fixed costs are timed apart: the session start, and a first job (the same
  sweep on a Parquet dataset of 2,000 bars of one symbol: Python workers start,
  numba loads its cache, Spark generates the queries' code). The timed run
  follows them.
- ``vectorbt``: symbol by symbol (a billion bar-cells do not fit one array):
  the symbol's Parquet file read with pandas, ``vbt.MA`` for both windows,
  the strict cross in numpy, ``Portfolio.from_signals`` over 100 columns,
  closed trades' count and PnL per column.
- ``duckdb``: streambt on DuckDB with ``placement="kernels"``, symbol by symbol
  (``from_parquet(..., symbols=[s])``): the whole ``Result`` (factors, equity,
  orders, fills, trades) of each symbol is made, then summarized.

Throughput is bar-cells per second: cells x symbols x bars / wall seconds.
CPU seconds (this process and its children: the JVM and its Python workers)
are reported beside, and the load average at the end of each engine's run, since
the wall time depends on what else the machine runs.
Metrics (Sharpe, drawdown, ...) are not part of any engine's timing, as in
the other benchmarks; their cost per bar-cell is measured separately on one
symbol (``--metrics``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))  # the peers' strict cross

from common import machine_info, synthetic_bars, vbt_all_in, write_json  # noqa: E402

FAST = list(range(5, 55, 5))
SLOW = list(range(60, 160, 10))
CASH, FEE = 10_000.0, 0.001
ENGINES = ("spark", "vectorbt", "duckdb")
SUMMARY = pa.schema(
    [
        ("strategy", pa.string()),
        ("symbol", pa.string()),
        ("trades", pa.int64()),
        ("pnl", pa.float64()),
    ]
)


def strategy_name(fast: int, slow: int) -> str:
    """streambt's name of a sweep cell's strategy."""
    return f"sma[fast={fast},slow={slow}]"


# ------------------------------------------------------------------------------ data


def make_dataset(root: Path, symbols: int, bars: int) -> Path:
    """One-minute bars, one Parquet file per symbol partition; reused when already there."""
    done = root / "_complete"
    if done.exists():
        return root
    for k in range(symbols):
        df = synthetic_bars(bars, seed=2000 + k, start="2020-01-01")
        part = root / f"symbol=S{k:03d}"
        part.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pandas(df, preserve_index=False)
        table = table.cast(table.schema.set(0, pa.field("ts", pa.timestamp("us", tz="UTC"))))
        pq.write_table(table, part / "part-0.parquet")
    done.write_text("ok\n")
    return root


def symbols_of(root: Path) -> list[str]:
    return sorted(p.name.split("=", 1)[1] for p in root.glob("symbol=*"))


# --------------------------------------------------------------------------- engines


def sweep_cerebro(feed: Any, fast: list[int], slow: list[int]) -> Any:
    import streambt as sb

    cb = sb.Cerebro(cash=CASH, commission=FEE)
    data = cb.add_data(feed)
    f = cb.add_indicator(sb.ind.sma, data["close"], window=sb.param("fast"))
    s = cb.add_indicator(sb.ind.sma, data["close"], window=sb.param("slow"))
    cb.add_strat(cb.add_indicator(sb.sig.cross, f, s), sb.alloc.all_in(long_only=True), name="sma")
    cb.sweep({"fast": fast, "slow": slow})
    return cb


def summarize(trades: pa.Table) -> pa.Table:
    """Trade count and net PnL per (strategy, symbol)."""
    got = trades.group_by(["strategy", "symbol"]).aggregate([("pnl", "count"), ("pnl", "sum")])
    return pa.table(
        {
            "strategy": got.column("strategy"),
            "symbol": got.column("symbol"),
            "trades": got.column("pnl_count").cast(pa.int64()),
            "pnl": got.column("pnl_sum"),
        },
        schema=SUMMARY,
    )


def run_spark(root: Path, args: argparse.Namespace, out: dict[str, Any]) -> pa.Table:
    import streambt as sb
    from streambt.backends.spark.session import spark_session

    conf = dict(kv.split("=", 1) for kv in args.spark_conf)
    options = {
        "master": args.spark_master,
        "conf": conf,
        "placement": args.spark_placement,
        "sweep_key": args.spark_sweep_key,
        "collect": ("trades",),
    }
    t0 = time.perf_counter()
    spark_session(args.spark_master, conf)
    out["session_start_s"] = time.perf_counter() - t0
    # The first job reads a small dataset of the same kind (2,000 bars of one symbol), so
    # that it pays the one-off costs: Python workers, numba's cache, Spark's code generation.
    first = symbols_of(root)[0]
    small = pq.read_table(root / f"symbol={first}" / "part-0.parquet").slice(0, 2000)
    warm_root = args.work / "warm" / f"symbol={first}"
    warm_root.mkdir(parents=True, exist_ok=True)
    pq.write_table(small, warm_root / "part-0.parquet")
    warm = sweep_cerebro(sb.feeds.from_parquet(warm_root.parent), FAST, SLOW)
    t0 = time.perf_counter()
    warm.run(backend="spark", **options)
    out["first_job_s"] = time.perf_counter() - t0
    cb = sweep_cerebro(sb.feeds.from_parquet(root), FAST, SLOW)
    c0, t0 = tree_cpu(), time.perf_counter()
    res = cb.run(backend="spark", **options)
    trades = res.trades
    out["seconds"], out["cpu_s"] = time.perf_counter() - t0, tree_cpu() - c0
    return summarize(trades)


def run_duckdb(root: Path, args: argparse.Namespace, out: dict[str, Any]) -> pa.Table:
    import streambt as sb

    symbols = symbols_of(root)
    warm = pq.read_table(root / f"symbol={symbols[0]}" / "part-0.parquet").slice(0, 2000)
    sweep_cerebro(sb.feeds.from_arrow(warm, symbol="W"), FAST, SLOW).run(placement="kernels")
    parts = []
    c0, t0 = tree_cpu(), time.perf_counter()
    for sym in symbols:
        cb = sweep_cerebro(sb.feeds.from_parquet(root, symbols=[sym]), FAST, SLOW)
        res = cb.run(placement="kernels")
        parts.append(summarize(res.trades))
        del res
    out["seconds"], out["cpu_s"] = time.perf_counter() - t0, tree_cpu() - c0
    return pa.concat_tables(parts)


def vectorbt_symbol(df: pd.DataFrame, symbol: str) -> pa.Table:
    """The whole grid on one symbol: 100 portfolio columns in one ``from_signals``."""
    import vectorbt as vbt
    from peers.peer_runs import strict_cross

    # A naive index holding the UTC times (a tz-aware one makes vectorbt 100x slower).
    index = pd.DatetimeIndex(df["ts"]).tz_convert("UTC").tz_localize(None)
    close = pd.Series(df["close"].to_numpy(), index=index)
    fast = vbt.MA.run(close, FAST).ma.to_numpy()
    slow = vbt.MA.run(close, SLOW).ma.to_numpy()
    n, cells = len(df), len(FAST) * len(SLOW)
    entries = np.zeros((n, cells), dtype=bool)
    exits = np.zeros((n, cells), dtype=bool)
    names = []
    for i, f in enumerate(FAST):
        for j, s in enumerate(SLOW):
            k = i * len(SLOW) + j
            cross = strict_cross(fast[:, i], slow[:, j])
            # Decided at bar i's close, filled at bar i+1's open.
            entries[1:, k] = cross[:-1] == 1
            exits[1:, k] = cross[:-1] == -1
            names.append(strategy_name(f, s))
    pf = vbt.Portfolio.from_signals(
        close,
        entries=entries,
        exits=exits,
        price=np.broadcast_to(df["open"].to_numpy()[:, None], (n, cells)),
        **vbt_all_in(FEE, CASH),
    )
    closed = pf.trades.closed
    counts = closed.count().to_numpy()
    pnl = closed.pnl.sum().to_numpy()
    return pa.table(
        {
            "strategy": names,
            "symbol": [symbol] * cells,
            "trades": counts.astype(np.int64),
            "pnl": pnl.astype(np.float64),
        },
        schema=SUMMARY,
    )


def run_vectorbt(root: Path, args: argparse.Namespace, out: dict[str, Any]) -> pa.Table:
    symbols = symbols_of(root)
    warm = pd.read_parquet(root / f"symbol={symbols[0]}" / "part-0.parquet").iloc[:2000]
    vectorbt_symbol(warm, "W")
    parts = []
    c0, t0 = tree_cpu(), time.perf_counter()
    for sym in symbols:
        df = pd.read_parquet(root / f"symbol={sym}" / "part-0.parquet")
        parts.append(vectorbt_symbol(df, sym))
    out["seconds"], out["cpu_s"] = time.perf_counter() - t0, tree_cpu() - c0
    return pa.concat_tables(parts)


RUNNERS = {"spark": run_spark, "vectorbt": run_vectorbt, "duckdb": run_duckdb}


def measure_metrics(root: Path) -> dict[str, Any]:
    """The metrics (``res.metrics``: Sharpe, drawdowns, ...) of the grid on one symbol, on DuckDB."""
    import streambt as sb

    sym = symbols_of(root)[0]
    cb = sweep_cerebro(sb.feeds.from_parquet(root, symbols=[sym]), FAST, SLOW)
    res = cb.run(placement="kernels")
    t0 = time.perf_counter()
    metrics = res.metrics
    seconds = time.perf_counter() - t0
    bar_cells = res.equity.num_rows
    return {"seconds": seconds, "bar_cells": bar_cells, "rows": metrics.num_rows}


def tree_cpu() -> float:
    """CPU seconds used so far by this process and its children (JVM, Python workers)."""
    try:
        import psutil
    except ImportError:
        return float("nan")
    me = psutil.Process()
    total = 0.0
    for proc in [me, *me.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            t = proc.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
    return total


class TreeMemory:
    """Peak summed RSS of this process and its children (JVM, Python workers), sampled."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            import psutil
        except ImportError:
            return
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for proc in [me, *me.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    total += proc.memory_info().rss
            self.peak = max(self.peak, total)
            self._stop.wait(0.5)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def child(engine: str, root: Path, args: argparse.Namespace) -> int:
    out: dict[str, Any] = {}
    with TreeMemory() as mem:
        summary = RUNNERS[engine](root, args, out)
    out["peak_tree_rss_bytes"] = mem.peak
    out["load_average_1_5_15"] = os.getloadavg()  # other work on the machine meanwhile
    pq.write_table(summary, args.work / f"summary_{engine}.parquet")
    print(json.dumps(out))
    return 0


# ---------------------------------------------------------------------------- report


def machine_info_with_spark() -> dict[str, Any]:
    """:func:`common.machine_info` plus pyspark's version and the Java that runs it."""
    from importlib import metadata

    info = machine_info()
    try:
        info["packages"]["pyspark"] = metadata.version("pyspark")
    except metadata.PackageNotFoundError:
        info["packages"]["pyspark"] = "not installed"
    try:
        done = subprocess.run(["java", "-version"], capture_output=True, text=True, timeout=60)
        info["java"] = (done.stderr or done.stdout).strip().splitlines()[0]
    except (OSError, subprocess.TimeoutExpired, IndexError):
        info["java"] = "not found"
    return info


def compare(a: pa.Table, b: pa.Table) -> dict[str, Any]:
    """Trade counts equal and PnL within 1e-6 relative, per (strategy, symbol)."""
    by = [("strategy", "ascending"), ("symbol", "ascending")]
    a, b = a.sort_by(by), b.sort_by(by)
    keys_equal = a.select(["strategy", "symbol"]).equals(b.select(["strategy", "symbol"]))
    if not keys_equal:
        return {"same_keys": False}
    counts = np.asarray(a.column("trades")) == np.asarray(b.column("trades"))
    pa_, pb = np.asarray(a.column("pnl")), np.asarray(b.column("pnl"))
    rel = np.abs(pa_ - pb) / np.maximum(np.abs(pb), 1.0)
    return {
        "same_keys": True,
        "trade_counts_equal": bool(counts.all()),
        "cells_with_other_counts": int((~counts).sum()),
        "max_pnl_rel_diff": float(rel.max()) if rel.size else 0.0,
        "ok": bool(counts.all() and (rel.max() if rel.size else 0.0) <= 1e-6),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--symbols", type=int, default=100)
    p.add_argument("--bars", type=int, default=100_000)
    p.add_argument("--quick", action="store_true", help="4 symbols x 20,000 bars")
    p.add_argument("--engines", default=",".join(ENGINES))
    p.add_argument("--spark-master", default="local[2]")
    p.add_argument("--spark-placement", default="kernels", choices=("kernels", "relational"))
    p.add_argument("--spark-sweep-key", default="auto", choices=("auto", "symbol", "cell"))
    p.add_argument(
        "--spark-conf",
        action="append",
        default=["spark.driver.memory=6g"],
        help="KEY=VALUE Spark setting (repeatable)",
    )
    p.add_argument("--metrics", action="store_true", help="also time res.metrics on one symbol")
    p.add_argument("--json", type=Path, help="write the numbers to this JSON file")
    p.add_argument("--child", choices=ENGINES, help=argparse.SUPPRESS)
    p.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.symbols, args.bars = 4, 20_000
    root = make_dataset(HERE / "out" / f"sweep_{args.symbols}x{args.bars}", args.symbols, args.bars)
    if args.work is None:
        args.work = root.parent / f"sweep_{args.symbols}x{args.bars}_runs"
    args.work.mkdir(parents=True, exist_ok=True)
    if args.child:
        return child(args.child, root, args)

    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = sorted(set(engines) - set(ENGINES))
    if unknown:
        p.error(f"unknown engine(s) {unknown}; choose from {', '.join(ENGINES)}")
    cells = len(FAST) * len(SLOW)
    bar_cells = cells * args.symbols * args.bars
    results: dict[str, dict[str, Any]] = {}
    forwarded = [a for a in (argv if argv is not None else sys.argv[1:]) if a != "--quick"]
    for engine in engines:
        print(f"running {engine} ...", file=sys.stderr, flush=True)
        cmd = [sys.executable, __file__, *forwarded, "--symbols", str(args.symbols)]
        cmd += ["--bars", str(args.bars), "--child", engine, "--work", str(args.work)]
        started = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy())
        if done.returncode != 0:
            tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
            results[engine] = {"error": tail}
            print(f"{engine} failed:\n{done.stderr[-4000:]}", file=sys.stderr)
            continue
        r = json.loads(done.stdout.strip().splitlines()[-1])
        r["process_wall_s"] = time.perf_counter() - started
        r["bar_cells_per_s"] = bar_cells / r["seconds"]
        results[engine] = r
    summaries = {
        e: pq.read_table(args.work / f"summary_{e}.parquet")
        for e in results
        if "error" not in results[e]
    }
    checks = {}
    names = list(summaries)
    for other in names[1:]:
        checks[f"{names[0]}_vs_{other}"] = compare(summaries[other], summaries[names[0]])
    totals = {e: {"trades": int(pc.sum(t.column("trades")).as_py())} for e, t in summaries.items()}
    report: dict[str, Any] = {
        "benchmark": "sweep_sma_cross_10x10",
        "cells": cells,
        "symbols": args.symbols,
        "bars": args.bars,
        "bar_cells": bar_cells,
        "spark": {
            "master": args.spark_master,
            "placement": args.spark_placement,
            "sweep_key": args.spark_sweep_key,
            "conf": args.spark_conf,
        },
        "machine": machine_info_with_spark(),
        "engines": results,
        "totals": totals,
        "checks": checks,
    }
    if args.metrics:
        report["metrics_one_symbol"] = measure_metrics(root)
    print(
        f"sweep of {cells} cells (SMA fast {FAST[0]}..{FAST[-1]} x slow {SLOW[0]}..{SLOW[-1]}) "
        f"x {args.symbols} symbols x {args.bars:,} bars = {bar_cells:,} bar-cells"
    )
    for engine, r in results.items():
        if "error" in r:
            print(f"{engine:>9}: failed: {r['error']}")
            continue
        extra = ""
        if engine == "spark":
            extra = (
                f"; fixed: session start {r['session_start_s']:.1f} s, "
                f"first job {r['first_job_s']:.1f} s"
            )
        print(
            f"{engine:>9}: {r['seconds']:.1f} s = {r['bar_cells_per_s'] / 1e6:.2f} M bar-cells/s "
            f"({r['cpu_s']:.0f} CPU-s), {totals[engine]['trades']:,} trades, peak tree RSS "
            f"{r['peak_tree_rss_bytes'] / 2**30:.2f} GiB{extra}"
        )
    for name, c in checks.items():
        print(f"{name}: {c}")
    if "metrics_one_symbol" in report:
        m = report["metrics_one_symbol"]
        print(
            f"metrics on one symbol ({m['bar_cells']:,} bar-cells, DuckDB): {m['seconds']:.1f} s = "
            f"{m['bar_cells'] / m['seconds'] / 1e6:.2f} M bar-cells/s"
        )
    if args.json:
        write_json(args.json, report)
    return 0 if all(c.get("ok") for c in checks.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""Replaying history through the SMA-cross graph on a local Flink: sustained bars/s and latency.

Usage::

    python benchmarks/bench_flink_replay.py                       # 100 symbols x 10,000 bars
    python benchmarks/bench_flink_replay.py --symbols 20 --bars 5000 --rate 5000
    python benchmarks/bench_flink_replay.py --relational-bars 0   # skip the per-row pipeline

The graph is the SMA 10/30 cross of ``bench_sma_cross.py`` (long only, all in
with whole units, fee 0.1 % per fill), over ``--symbols`` symbols of seeded
one-minute bars, ``cb.run(backend="flink", mode="stream",
source=flink.replay(rate=...), latency=True)`` in one process (a local Flink
MiniCluster), after an untimed warm-up job (JVM, Python workers, numba).

Two timed runs of the bundled pipeline (``placement="kernels"``):

1. **throughput**: the replay's rate far above what the job can take, so the
   source is held back by backpressure; sustained bars/s is the bars divided by
   the time from the first bar entering the job to the last order leaving it
   (job start-up and the Result read-back are reported apart);
2. **latency**: the replay at ``--rate`` bars/s; bar-to-order latency is, per
   order, the wall time from its bar entering the job (the moment its chunk
   reached the bundled operator) to the order leaving the simulator, p50/p99,
   and the input rate achieved shows whether the job kept up (time a chunk
   waits before the operator, or the source held back, is not in the latency).

Then (``--relational-bars``) the throughput of the default per-row pipeline
(windowed nodes in Flink SQL) on fewer bars, for comparison. Every run's orders
are checked against the DuckDB run of the same graph.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import machine_info, synthetic_bars, write_json  # noqa: E402

FLINK_PACKAGES = ("apache-flink", "apache-beam", "numpy", "pandas", "pyarrow", "numba")


def frame(symbols: int, bars: int) -> pd.DataFrame:
    """``symbols`` symbols x ``bars`` one-minute bars, each its own seeded walk."""
    parts = [
        synthetic_bars(bars, seed=1000 + k, start="2020-01-01").assign(symbol=f"S{k:03d}")
        for k in range(symbols)
    ]
    return pd.concat(parts, ignore_index=True)


def cerebro(df: pd.DataFrame) -> Any:
    import streambt as sb

    cb = sb.Cerebro(cash=10_000, commission=0.001)
    data = cb.add_data(sb.feeds.from_pandas(df))
    fast = cb.add_indicator(sb.ind.sma, data["close"], window=10)
    slow = cb.add_indicator(sb.ind.sma, data["close"], window=30)
    cb.add_strat(
        cb.add_indicator(sb.sig.cross, fast, slow), sb.alloc.all_in(long_only=True), name="sma"
    )
    return cb


def replay_run(
    df: pd.DataFrame, rate: float, out: Path, **options: Any
) -> tuple[Any, pd.DataFrame, dict[str, float]]:
    """One timed replay; its Result, its latency rows and its timings."""
    from streambt.backends import flink

    shutil.rmtree(out, ignore_errors=True)
    cb = cerebro(df)
    started = time.perf_counter()
    res = cb.run(
        backend="flink",
        mode="stream",
        source=flink.replay(rate=rate),
        latency=True,
        out=out,
        **options,
    )
    orders = res.orders.num_rows
    wall = time.perf_counter() - started
    lat = flink.sinks.read_sink(out / "latency", flink.sinks.schema_of("latency")).to_pandas()
    first_in = float(lat["bar_emitted_us"].min())
    last_in = float(lat["bar_emitted_us"].max())
    last_out = float(lat["out_us"].max())
    return (
        res,
        lat,
        {
            "wall_s": wall,
            "active_s": (last_out - first_in) / 1e6,
            "input_s": (last_in - first_in) / 1e6,
            "orders": float(orders),
        },
    )


def percentiles(values: np.ndarray) -> dict[str, float]:
    return {
        "p50_ms": float(np.percentile(values, 50)),
        "p90_ms": float(np.percentile(values, 90)),
        "p99_ms": float(np.percentile(values, 99)),
        "max_ms": float(values.max()),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--symbols", type=int, default=100)
    p.add_argument("--bars", type=int, default=10_000, help="bars per symbol")
    p.add_argument("--rate", type=float, default=20_000, help="bars/s of the latency run")
    p.add_argument("--max-rate", type=float, default=1e7, help="bars/s of the throughput run")
    p.add_argument("--bundle-ms", type=int, default=20, help="the Flink backend's bundle_ms")
    p.add_argument("--release-ms", type=int, default=50, help="the Flink backend's release_ms")
    p.add_argument("--parallelism", type=int, default=1)
    p.add_argument("--relational-bars", type=int, default=1_000, help="bars per symbol, 0: skip")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)

    info = machine_info()
    from importlib import metadata

    for name in FLINK_PACKAGES:
        try:
            info["packages"][name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            info["packages"][name] = "not installed"
    print(f"machine: {info['cpu']}, {info['cores']} cores, {info['ram_gib']} GiB, {info['os']}")
    print(f"python {info['python']}; " + ", ".join(f"{k} {v}" for k, v in info["packages"].items()))
    report: dict[str, Any] = {"machine": info, "args": {k: str(v) for k, v in vars(args).items()}}
    options = {
        "bundle_ms": args.bundle_ms,
        "release_ms": args.release_ms,
        "parallelism": args.parallelism,
    }
    tmp = Path(tempfile.mkdtemp(prefix="bench-flink-"))
    try:
        load = os.getloadavg()[0]
        t0 = time.perf_counter()
        replay_run(frame(2, 300), 5_000, tmp / "warm", placement="kernels", **options)
        print(f"warm-up job (JVM, Python workers, numba): {time.perf_counter() - t0:.1f} s")

        df = frame(args.symbols, args.bars)
        n = len(df)
        want = cerebro(df).run()
        print(f"{n:,} bars over {args.symbols} symbols; DuckDB: {want.orders.num_rows:,} orders")

        res, lat, t = replay_run(df, args.max_rate, tmp / "max", placement="kernels", **options)
        assert res.orders.num_rows == want.orders.num_rows, "orders differ from DuckDB"
        sustained = n / t["active_s"]
        print(
            f"throughput (kernels, replay at {args.max_rate:,.0f}/s): {sustained:,.0f} bars/s "
            f"sustained ({n:,} bars in {t['active_s']:.1f} s from first bar in to last order "
            f"out; cb.run wall {t['wall_s']:.1f} s)"
        )
        report["throughput"] = {"bars": n, "bars_per_s": sustained, **t}

        res, lat, t = replay_run(df, args.rate, tmp / "paced", placement="kernels", **options)
        assert res.orders.num_rows == want.orders.num_rows, "orders differ from DuckDB"
        orders = lat[lat["table"] == "orders"]
        waited = (orders["out_us"] - orders["bar_emitted_us"]).to_numpy() / 1000.0
        achieved = n / t["input_s"] if t["input_s"] > 0 else float("nan")
        pct = percentiles(waited)
        print(
            f"latency (kernels, replay at {args.rate:,.0f}/s; input kept {achieved:,.0f} bars/s): "
            f"bar-to-order p50 {pct['p50_ms']:.0f} ms, p90 {pct['p90_ms']:.0f} ms, "
            f"p99 {pct['p99_ms']:.0f} ms, max {pct['max_ms']:.0f} ms over {len(waited):,} orders"
        )
        report["latency"] = {"rate": args.rate, "input_bars_per_s": achieved, **pct, **t}

        if args.relational_bars:
            small = frame(args.symbols, args.relational_bars)
            want_small = cerebro(small).run()
            res, _, t = replay_run(small, args.max_rate, tmp / "rel", **options)
            assert res.orders.num_rows == want_small.orders.num_rows, "orders differ from DuckDB"
            rel = len(small) / t["active_s"]
            print(
                f"throughput (default per-row pipeline, SQL windows): {rel:,.0f} bars/s "
                f"({len(small):,} bars in {t['active_s']:.1f} s; cb.run wall {t['wall_s']:.1f} s)"
            )
            report["relational"] = {"bars": len(small), "bars_per_s": rel, **t}
        report["load_average"] = {"start": load, "end": os.getloadavg()[0]}
        print(f"load average (1 min) at start {load:.1f}, at end {os.getloadavg()[0]:.1f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        write_json(args.json, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())

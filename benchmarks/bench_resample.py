"""Loading and resampling partitioned Parquet minute bars to 5min / 1h / 1d, on DuckDB and on Polars.

Usage::

    python benchmarks/bench_resample.py [--symbols 100] [--bars 1000000] [--engines duckdb,polars]

Writes (once, then reuses) a Parquet dataset partitioned by symbol
(``symbol=S/part-0.parquet``) of one-minute bars under ``benchmarks/out/``, then
for each engine, in a fresh process, runs a Cerebro that reads it
(``from_parquet``), declares ``timeframe="1min"`` and resamples to 5min, 1h and
1d. Reports input rows per second, the peak resident memory of that process
(Linux VmHWM), and that peak divided by the bytes of the columns read
(symbol, ts, open, high, low, close, volume as Arrow holds them).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import machine_info, synthetic_bars, write_json  # noqa: E402

CHILD = """
import json, sys, time
import streambt as sb
path, engine = sys.argv[1], sys.argv[2]

def run(source):
    cb = sb.Cerebro()
    data = cb.add_data(source, timeframe="1min")
    for rule in ("5min", "1h", "1d"):
        cb.resample(data, rule)
    return cb.run("duckdb", placement="kernels") if engine == "duckdb-kernels" else cb.run(engine)

# Warm the JIT on a small frame first, so the timed run measures the work, not compilation.
run(sb.feeds.from_pandas(sb.feeds.synthetic_bars(3000, interval="1min"), symbol="W"))
t0 = time.perf_counter()
res = run(sb.feeds.from_parquet(path))
elapsed = time.perf_counter() - t0
rows = {name: t.num_rows for name, t in res.frames.items()}
peak_kib = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))
read_bytes = res.factors.select(["symbol", "ts", "open", "high", "low", "close", "volume"]).nbytes
print(json.dumps({"seconds": elapsed, "rows": res.factors.num_rows, "frames": rows,
                  "peak_bytes": peak_kib * 1024, "read_bytes": read_bytes}))
"""


def make_dataset(root: Path, symbols: int, bars: int) -> Path:
    """Minute bars, one Parquet file per symbol partition; reused when already there."""
    done = root / "_complete"
    if done.exists():
        return root
    for k in range(symbols):
        df = synthetic_bars(bars, seed=1000 + k, start="2020-01-01")
        part = root / f"symbol=S{k:03d}"
        part.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pandas(df, preserve_index=False)
        pq.write_table(
            table.cast(table.schema.set(0, pa.field("ts", pa.timestamp("us", tz="UTC")))),
            part / "part-0.parquet",
        )
    done.write_text("ok\n")
    return root


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--symbols", type=int, default=100)
    p.add_argument("--bars", type=int, default=1_000_000)
    p.add_argument("--engines", default="duckdb,duckdb-kernels,polars")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    root = make_dataset(
        HERE / "out" / f"minute_{args.symbols}x{args.bars}", args.symbols, args.bars
    )
    results = {}
    for engine in args.engines.split(","):
        backend = "duckdb" if engine.startswith("duckdb") else engine
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", CHILD, str(root), engine], capture_output=True, text=True
        )
        if done.returncode != 0:
            results[engine] = {"error": done.stderr.strip().splitlines()[-1]}
            continue
        r = json.loads(done.stdout.strip().splitlines()[-1])
        r["wall_with_start_s"] = time.perf_counter() - started
        r["rows_per_s"] = r["rows"] / r["seconds"]
        r["peak_over_read"] = r["peak_bytes"] / r["read_bytes"]
        r["backend"] = backend
        results[engine] = r
    report = {
        "symbols": args.symbols,
        "bars": args.bars,
        "machine": machine_info(),
        "engines": results,
    }
    for engine, r in results.items():
        if "error" in r:
            print(f"{engine:>15}: failed: {r['error']}")
            continue
        print(
            f"{engine:>15}: {r['rows']:,} rows in {r['seconds']:.2f} s = {r['rows_per_s'] / 1e6:.2f} M rows/s; "
            f"peak RSS {r['peak_bytes'] / 2**30:.2f} GiB = {r['peak_over_read']:.2f}x the {r['read_bytes'] / 2**30:.2f} GiB "
            f"of columns read; bars out {r['frames']}"
        )
    if args.json:
        write_json(args.json, report)
    return 0 if all("error" not in r for r in results.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())

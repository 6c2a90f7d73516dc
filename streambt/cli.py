"""The command line: ``streambt run | explain MANIFEST.toml``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
from rich.console import Console
from rich.table import Table

from .errors import StreambtError
from .manifest import load_manifest

SHOWN = [
    ("total_return", "return", "{:+.2%}"),
    ("cagr", "CAGR", "{:+.2%}"),
    ("sharpe", "Sharpe", "{:.2f}"),
    ("sortino", "Sortino", "{:.2f}"),
    ("max_drawdown", "max DD", "{:.2%}"),
    ("trades", "trades", "{}"),
    ("win_rate", "win %", "{:.1%}"),
    ("profit_factor", "PF", "{:.2f}"),
    ("exposure", "exposure", "{:.1%}"),
    ("final_equity", "final equity", "{:,.2f}"),
]


def metrics_table(metrics: pa.Table, title: str) -> Table:
    """A rich table of the headline metrics: one row per metric, one column per strategy and symbol."""
    rows = metrics.to_pylist()
    table = Table(title=title)
    table.add_column("metric")
    for row in rows:
        table.add_column(f"{row['strategy']}\n{row['symbol']}", justify="right")
    for key, header, fmt in SHOWN:
        cells = [header]
        for row in rows:
            value = row.get(key)
            cells.append("-" if value is None or value != value else fmt.format(value))
        table.add_row(*cells)
    return table


def _run(args: argparse.Namespace, console: Console) -> int:
    manifest = load_manifest(args.manifest)
    backend = args.backend or manifest.backend
    mode = args.mode or manifest.mode
    started = time.perf_counter()
    res = manifest.cerebro.run(backend=backend, mode=mode)
    elapsed = time.perf_counter() - started
    out = Path(args.out) if args.out else Path("runs") / Path(args.manifest).stem
    res.to_dir(out)
    console.print(
        f"{Path(args.manifest).name} on {backend} ({mode}): {res.factors.num_rows:,} bars in {elapsed:.2f} s"
    )
    console.print(metrics_table(res.metrics, "metrics"))
    console.print(
        f"results written to {out}/ (trades.csv, orders.csv, equity.parquet, factors.parquet, metrics.json)"
    )
    return 0


def _explain(args: argparse.Namespace, console: Console) -> int:
    manifest = load_manifest(args.manifest)
    text = manifest.cerebro.explain(
        args.backend or manifest.backend, args.mode or manifest.mode, show=False
    )
    console.print(text, highlight=False, markup=False)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="streambt", description="Run one strategy graph on any engine."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a manifest and write a run folder")
    run.add_argument("manifest", help="path of the TOML manifest")
    run.add_argument("--backend", help="engine to run on (default: the manifest's, else duckdb)")
    run.add_argument("--mode", choices=["batch", "stream"], help="batch or stream")
    run.add_argument("--out", help="run folder (default: runs/<manifest name>)")
    run.set_defaults(func=_run)
    explain = sub.add_parser(
        "explain", help="print the graph and the plan with the reason for each placement"
    )
    explain.add_argument("manifest")
    explain.add_argument("--backend")
    explain.add_argument("--mode", choices=["batch", "stream"])
    explain.set_defaults(func=_explain)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``streambt`` console script."""
    args = build_parser().parse_args(argv)
    console = Console()
    try:
        code: Any = args.func(args, console)
    except StreambtError as exc:
        # Plain print: an error message must not be re-wrapped mid-path.
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return int(code)


if __name__ == "__main__":
    sys.exit(main())

"""The command line: ``streambt run | explain | submit MANIFEST.toml`` and ``streambt data validate | ingest``."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
from rich.console import Console
from rich.table import Table

from .errors import InvalidParameterError, StreambtError
from .manifest import load_manifest
from .result import Result

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


RANKED = [
    ("total_return", "return", "{:+.2%}"),
    ("sharpe", "Sharpe", "{:.2f}"),
    ("max_drawdown", "max DD", "{:.2%}"),
    ("trades", "trades", "{}"),
    ("win_rate", "win %", "{:.1%}"),
]


def ranking_table(res: Result, top: int) -> Table:
    """The best sweep cells by Sharpe, one row each (the whole table is in ranking.csv)."""
    ranking = res.ranking()
    table = Table(
        title=f"sweep: best {min(top, ranking.num_rows)} of {ranking.num_rows} cells by Sharpe"
    )
    table.add_column("cell")
    for _, header, _ in RANKED:
        table.add_column(header, justify="right")
    for row in ranking.slice(0, top).to_pylist():
        cell = ",".join(f"{k}={v}" for k, v in res.cells.get(row["strategy"], {}).items())
        values = [row.get(key) for key, _, _ in RANKED]
        table.add_row(
            cell,
            *(
                "-" if v is None or v != v else fmt.format(v)
                for v, (_, _, fmt) in zip(values, RANKED, strict=True)
            ),
        )
    return table


def _run(args: argparse.Namespace, console: Console) -> int:
    manifest = load_manifest(args.manifest)
    backend = args.backend or manifest.backend
    mode = args.mode or manifest.mode
    started = time.perf_counter()
    options = {"master": args.master} if args.master else {}
    res = manifest.cerebro.run(backend=backend, mode=mode, **options)
    elapsed = time.perf_counter() - started
    out = Path(args.out) if args.out else Path("runs") / Path(args.manifest).stem
    res.to_dir(out)
    console.print(
        f"{Path(args.manifest).name} on {backend} ({mode}): {res.factors.num_rows:,} bars in {elapsed:.2f} s"
    )
    if res.cells:
        console.print(ranking_table(res, top=10))
    else:
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


#: ``streambt submit --engine NAME``: the module whose ``submit(manifest, address, out)``
#: runs a manifest on that engine's cluster, and the flag that names the cluster
SUBMITTERS: dict[str, tuple[str, str]] = {
    "spark": ("streambt.backends.spark.submit", "master"),
    "flink": ("streambt.backends.flink.submit", "jobmanager"),
}


def _submit(args: argparse.Namespace, console: Console) -> int:
    import importlib

    import pyarrow.parquet as pq

    module, flag = SUBMITTERS[args.engine]
    address = getattr(args, flag)
    if not address:
        raise InvalidParameterError(
            f"streambt submit --engine {args.engine} needs --{flag} (the cluster to run on)"
        )
    load_manifest(args.manifest)  # a bad manifest fails here, not on the cluster
    out = Path(args.out) if args.out else Path("runs") / Path(args.manifest).stem
    started = time.perf_counter()
    importlib.import_module(module).submit(args.manifest, address, out)
    elapsed = time.perf_counter() - started
    metrics = pa.Table.from_pylist(json.loads((out / "metrics.json").read_text()))
    bars = pq.read_metadata(out / "factors.parquet").num_rows
    console.print(
        f"{Path(args.manifest).name} submitted to {address} ({args.engine}): {bars:,} bars in {elapsed:.2f} s"
    )
    if metrics.num_rows:
        console.print(metrics_table(metrics, "metrics"))
    console.print(f"results written by the cluster to {out}/")
    return 0


def _policy_arg(items: list[str] | None) -> dict[str, str]:
    policy: dict[str, str] = {}
    for item in items or []:
        check, sep, value = item.partition("=")
        if not sep:
            raise InvalidParameterError(
                f"--policy {item!r}: write CHECK=POLICY, e.g. --policy gaps=error"
            )
        policy[check.strip()] = value.strip()
    return policy


def _data_feed(args: argparse.Namespace) -> Any:
    from .io import feeds
    from .io.ingest import source_feed

    policy = _policy_arg(args.policy)
    if "://" in args.path:
        if not args.table:
            raise InvalidParameterError(f"{args.path} is a database: name the table with --table")
        feed = feeds.from_table(
            args.path, args.table, args.symbol, policy=policy, interval=args.interval
        )
    else:
        feed = source_feed(args.path, args.symbol, policy, args.interval)
    if args.start or args.end:
        feed = feed.window(args.start, args.end)
    return feed


def _data_validate(args: argparse.Namespace, console: Console) -> int:
    report = _data_feed(args).validate()
    console.print(report)
    if args.json:
        Path(args.json).write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    console.print(report.summary(), highlight=False, markup=False)
    return 1 if report.failed else 0


def _data_ingest(args: argparse.Namespace, console: Console) -> int:
    from .io.ingest import ingest

    manifest = ingest(
        args.src,
        args.dest,
        args.partition,
        symbol=args.symbol,
        policy=_policy_arg(args.policy),
        interval=args.interval,
        overwrite=args.overwrite,
    )
    console.print(
        f"{manifest['rows']:,} bars of {len(manifest['symbols'])} symbol(s) "
        f"({manifest['start']} .. {manifest['end']}) written to {args.dest} in "
        f"{len(manifest['partitions'])} partition(s); manifest: {args.dest}/manifest.json",
        highlight=False,
        markup=False,
    )
    return 0


def _add_data_commands(sub: Any) -> None:
    data = sub.add_parser("data", help="check and ingest bar data")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    policy_help = "CHECK=POLICY, repeatable (e.g. gaps=error duplicates=repair)"
    validate = data_sub.add_parser(
        "validate",
        help="print the validation report of a CSV/Parquet file, a Parquet folder or a table",
        description="Exit code 0 when no check with policy 'error' fails, 1 otherwise.",
    )
    validate.add_argument("path", help="CSV or Parquet file, Parquet folder, or a database URL")
    validate.add_argument("--table", help="the table, when PATH is a database URL")
    validate.add_argument("--symbol", help="the symbol of a file with no symbol column")
    validate.add_argument("--interval", help="the bar interval for the gaps check, e.g. 1min")
    validate.add_argument("--policy", action="append", metavar="CHECK=POLICY", help=policy_help)
    validate.add_argument("--start", help="first time to check (inclusive)")
    validate.add_argument("--end", help="last time to check (exclusive)")
    validate.add_argument("--json", metavar="FILE", help="also write the report as JSON")
    validate.set_defaults(func=_data_validate)
    ing = data_sub.add_parser(
        "ingest", help="validate bars and write a partitioned Parquet dataset with a manifest"
    )
    ing.add_argument("src", help="CSV or Parquet file, or Parquet folder")
    ing.add_argument("dest", help="the dataset folder to write")
    ing.add_argument("--partition", default="day", help="day | symbol | symbol,day (default: day)")
    ing.add_argument("--symbol", help="the symbol of a file with no symbol column")
    ing.add_argument("--interval", help="the bar interval for the gaps check, e.g. 1min")
    ing.add_argument("--policy", action="append", metavar="CHECK=POLICY", help=policy_help)
    ing.add_argument(
        "--overwrite", action="store_true", help="replace DEST if it is an earlier ingest"
    )
    ing.set_defaults(func=_data_ingest)


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
    run.add_argument(
        "--master", help="Spark master URL with --backend spark, e.g. spark://HOST:7077"
    )
    run.set_defaults(func=_run)
    submit = sub.add_parser(
        "submit",
        help="run a manifest on a cluster: a Spark application (spark-submit) or a Flink job (flink run)",
    )
    submit.add_argument("manifest", help="path of the TOML manifest")
    submit.add_argument(
        "--engine", choices=sorted(SUBMITTERS), default="spark", help="the cluster's engine"
    )
    submit.add_argument(
        "--master", help="Spark master URL, e.g. spark://HOST:7077 (--engine spark)"
    )
    submit.add_argument(
        "--jobmanager",
        help="Flink JobManager REST address HOST:PORT, e.g. localhost:8081 (--engine flink)",
    )
    submit.add_argument(
        "--out", help="run folder on a path the cluster's driver can write (default: runs/<name>)"
    )
    submit.set_defaults(func=_submit)
    explain = sub.add_parser(
        "explain", help="print the graph and the plan with the reason for each placement"
    )
    explain.add_argument("manifest")
    explain.add_argument("--backend")
    explain.add_argument("--mode", choices=["batch", "stream"])
    explain.set_defaults(func=_explain)
    _add_data_commands(sub)
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

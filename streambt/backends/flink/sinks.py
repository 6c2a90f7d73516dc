"""The job's sinks (CSV part files per table) and the Result read back from them.

Each table is a folder of headerless CSV part files written by Flink's
``FileSink`` plus ``_header.csv`` naming the columns (names starting with
``_`` or ``.``, such as in-progress part files, are skipped by readers,
``pyarrow.dataset`` included). Part files are committed by checkpoints (or at
the end of a bounded input), so a restarted job never leaves duplicates.

Event and equity lines end with ``seq``, a per-(strategy, symbol) sequence
number in emission order: reading back orders by it, so ties in time keep the
kernel's order, and a duplicate would show as a repeated ``seq``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from ...errors import BackendError
from ...io.feeds import TS_TYPE
from ..event_tables import EQUITY_SCHEMA, EVENT_SCHEMAS
from ..kernel_host import SimOutput

#: tables a run writes; ``late``, ``rejected`` and ``latency`` are diagnostics
TABLES = ("factors", "equity", "orders", "fills", "trades")
LATE_COLUMNS = ["symbol", "ts", "open", "high", "low", "close", "volume"]
REJECTED_COLUMNS = ["reason_and_line"]
LATENCY_COLUMNS = [
    "table",
    "strategy",
    "symbol",
    "event_ts",
    "bar_ts",
    "bar_emitted_us",
    "out_us",
]


def schema_of(table: str, factor_columns: list[str] | None = None) -> pa.Schema:
    """The sink's column types (then ``seq`` for equity and events)."""
    if table == "factors":
        assert factor_columns is not None
        types = {"symbol": pa.string(), "ts": TS_TYPE}
        return pa.schema([(c, types.get(c, pa.float64())) for c in factor_columns])
    if table == "equity":
        return EQUITY_SCHEMA.append(pa.field("seq", pa.int64()))
    if table in EVENT_SCHEMAS:
        return EVENT_SCHEMAS[table].append(pa.field("seq", pa.int64()))
    if table == "late":
        return pa.schema([(c, pa.string()) for c in LATE_COLUMNS])
    if table == "latency":
        kinds = {"event_ts": TS_TYPE, "bar_ts": TS_TYPE, "bar_emitted_us": pa.int64()}
        return pa.schema(
            [
                (c, kinds.get(c, pa.int64() if c == "out_us" else pa.string()))
                for c in LATENCY_COLUMNS
            ]
        )
    return pa.schema([(c, pa.string()) for c in REJECTED_COLUMNS])


def file_sink(path: Path) -> Any:
    """A row-format FileSink of text lines into ``path`` (part-*.csv)."""
    from pyflink.common import Encoder
    from pyflink.datastream.connectors.file_system import (
        BucketAssigner,
        FileSink,
        OutputFileConfig,
        RollingPolicy,
    )

    return (
        FileSink.for_row_format(str(path), Encoder.simple_string_encoder())
        .with_bucket_assigner(BucketAssigner.base_path_bucket_assigner())
        # Roll (and so commit) part files on every checkpoint: the default policy
        # holds a part file open for 60 s of inactivity before a checkpoint may commit it.
        .with_rolling_policy(RollingPolicy.on_checkpoint_rolling_policy())
        .with_output_file_config(
            OutputFileConfig.builder().with_part_prefix("part").with_part_suffix(".csv").build()
        )
        .build()
    )


def write_header(path: Path, schema: pa.Schema) -> None:
    path.mkdir(parents=True, exist_ok=True)
    (path / "_header.csv").write_text(",".join(schema.names) + "\n")


def part_files(path: Path) -> list[Path]:
    if not path.is_dir():
        return []
    return sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith((".", "_")))


def read_sink(path: Path, schema: pa.Schema) -> pa.Table:
    """Every committed part file of one sink as one table of ``schema``."""
    parts = []
    for f in part_files(path):
        if f.stat().st_size == 0:
            continue
        parts.append(
            pacsv.read_csv(
                f,
                read_options=pacsv.ReadOptions(column_names=schema.names),
                parse_options=pacsv.ParseOptions(newlines_in_values=False),
                convert_options=pacsv.ConvertOptions(
                    column_types=schema, strings_can_be_null=False, quoted_strings_can_be_null=False
                ),
            )
        )
    if not parts:
        return schema.empty_table()
    return pa.concat_tables([p.cast(schema) for p in parts])


def count_lines(path: Path) -> int:
    total = 0
    for f in part_files(path):
        with f.open("rb") as fh:
            total += sum(1 for _ in fh)
    return total


def read_factors(out: Path, columns: list[str]) -> pa.Table:
    table = read_sink(out / "factors", schema_of("factors", columns))
    return table.sort_by([("symbol", "ascending"), ("ts", "ascending")])


def read_simulation(out: Path) -> dict[str, pa.Table]:
    """Equity and event tables as :class:`SimOutput` builds them on every engine.

    One part per (strategy, symbol), rows in emission order (``seq``), so the
    tables come out in the order the local hosts give.
    """
    sim = SimOutput()
    for name in ("equity", *EVENT_SCHEMAS):
        table = read_sink(out / name, schema_of(name))
        dup = _duplicates(table)
        if dup:
            raise BackendError(f"flink sink {out / name}: {dup}; a restart wrote events twice")
        if table.num_rows == 0:
            continue
        order = [("strategy", "ascending"), ("symbol", "ascending"), ("seq", "ascending")]
        table = table.sort_by(order).drop(["seq"])
        for key, part in _split(table):
            if name == "equity":
                sim.add_equity(*key, part)
            else:
                sim.events.setdefault(name, []).append((key, part))
    return sim.tables()


def write_parquet(out: Path, result: Any) -> list[Path]:
    """``out/<table>.parquet`` for the tables of ``result`` (read back from committed parts).

    Flink's own Parquet writer needs the flink-parquet jar, which the apache-flink
    wheel does not ship; the part files stay the exactly-once record, and these
    files are written from them when a run ends.
    """
    import pyarrow.parquet as pq

    written = []
    for name in TABLES:
        path = out / f"{name}.parquet"
        pq.write_table(getattr(result, name), path)
        written.append(path)
    return written


def _split(table: pa.Table) -> list[tuple[tuple[str, str], pa.Table]]:
    """(strategy, symbol) runs of a table ordered by them."""
    n = table.num_rows
    if n == 0:
        return []
    changed = None
    for name in ("strategy", "symbol"):
        col = table.column(name).combine_chunks()
        step = pc.not_equal(col.slice(1), col.slice(0, n - 1))
        changed = step if changed is None else pc.or_(changed, step)
    assert changed is not None
    starts = [0, *(np.flatnonzero(changed.to_numpy(zero_copy_only=False)) + 1).tolist()]
    ends = [*starts[1:], n]
    strategies = table.column("strategy").take(starts).to_pylist()
    symbols = table.column("symbol").take(starts).to_pylist()
    return [
        ((strategies[i], symbols[i]), table.slice(a, b - a))
        for i, (a, b) in enumerate(zip(starts, ends, strict=True))
    ]


def _duplicates(table: pa.Table) -> str:
    if table.num_rows == 0:
        return ""
    keys = table.select(["strategy", "symbol", "seq"]).group_by(["strategy", "symbol", "seq"])
    counts = keys.aggregate([([], "count_all")])
    dup = counts.filter(pc.greater(counts.column("count_all"), 1))
    if dup.num_rows == 0:
        return ""
    row = dup.slice(0, 1).to_pylist()[0]
    return f"{dup.num_rows} repeated sequence numbers, e.g. {row}"

"""Ingestion: CSV or Parquet bars in, a validated, partitioned Parquet dataset out.

The dataset is hive-partitioned (``symbol=AAA/date=2024-01-02/part-0.parquet``;
``date`` is the UTC date of ``ts``) and carries a ``manifest.json``: schema,
symbols, time range, row counts per partition, the validation report, and a
content fingerprint. ``sb.feeds.from_parquet(dest)`` reads it back, lazily,
as the same bars.

Examples
--------
>>> manifest = ingest("bars.csv", "bars/", partition="symbol,day")  # doctest: +SKIP
>>> feed = sb.feeds.from_parquet("bars/", start="2024-03-01")      # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import shutil
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from ..errors import DataError, InvalidParameterError, did_you_mean
from .feeds import BAR_SCHEMA, Feed, from_csv, from_parquet
from .parquet import PARQUET_SUFFIXES
from .policy import Policy
from .report import DataWarning

MANIFEST = "manifest.json"
FORMAT = "streambt-bars/1"
#: --partition choices -> the partition keys, outermost folder first
PARTITIONS = {
    "day": ("date",),
    "symbol": ("symbol",),
    "symbol,day": ("symbol", "date"),
    "day,symbol": ("date", "symbol"),
}


def source_feed(
    src: str | Path,
    symbol: str | None = None,
    policy: Policy | Mapping[str, str] | None = None,
    interval: str | None = None,
) -> Feed:
    """The feed for a CSV file, a Parquet file or a Parquet dataset folder."""
    path = Path(src)
    if path.is_dir() or path.suffix in PARQUET_SUFFIXES:
        return from_parquet(path, symbol, policy=policy, interval=interval)
    if path.suffix in (".csv", ".txt") or path.name.endswith(".csv.gz"):
        return from_csv(path, symbol, policy=policy, interval=interval)
    raise DataError(
        f"{path}: expected a .csv file, a .parquet file or a folder of Parquet files"
        + ("" if path.exists() else " (and it does not exist)")
    )


def ingest(
    src: str | Path,
    dest: str | Path,
    partition: str = "day",
    *,
    symbol: str | None = None,
    policy: Policy | Mapping[str, str] | None = None,
    interval: str | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Validate the bars of ``src`` and write them to ``dest`` as a partitioned dataset.

    Parameters
    ----------
    src : a CSV file, a Parquet file or a Parquet dataset folder
    dest : the dataset folder to create (empty or missing; with ``overwrite``,
        a folder holding an earlier ingest's manifest is replaced)
    partition : ``"day"``, ``"symbol"`` or ``"symbol,day"`` (``"day,symbol"``)
    symbol, policy, interval : as for the feeds (the policy applies while loading)

    Returns the manifest (also written to ``dest/manifest.json``).
    """
    keys = PARTITIONS.get(partition.replace(" ", ""))
    if keys is None:
        raise InvalidParameterError(
            f"partition={partition!r}: pass one of {', '.join(PARTITIONS)}."
            + did_you_mean(partition, PARTITIONS)
        )
    feed = source_feed(src, symbol, policy, interval)
    table, report = feed._checked(raise_errors=True, want_report=True)
    assert report is not None
    if report.reported:
        warnings.warn(report.summary(), DataWarning, stacklevel=2)
    bars = table.select(BAR_SCHEMA.names)

    out = Path(dest)
    _prepare(out, overwrite)
    data = bars
    fields = []
    for key in keys:
        if key == "date":
            data = data.append_column("date", pc.cast(bars.column("ts"), pa.date32()))
            fields.append(pa.field("date", pa.date32()))
        else:
            fields.append(pa.field("symbol", pa.string()))
    ds.write_dataset(
        data,
        out,
        format="parquet",
        partitioning=ds.partitioning(pa.schema(fields), flavor="hive"),
        basename_template="part-{i}.parquet",
        existing_data_behavior="overwrite_or_ignore",
        max_partitions=1 << 24,
    )

    counts = (
        data.group_by(list(keys))
        .aggregate([("ts", "count")])
        .sort_by([(k, "ascending") for k in keys])
    )
    partitions = []
    for row in counts.to_pylist():
        values = {k: str(row[k]) for k in keys}
        path = "/".join(f"{k}={quote(values[k], safe='')}" for k in keys)
        partitions.append({**values, "path": path, "rows": row["ts_count"]})
    ts = bars.column("ts")
    manifest = {
        "format": FORMAT,
        "source": Path(src).name,
        "partitioning": {"flavor": "hive", "keys": list(keys)},
        "schema": [{"name": f.name, "type": str(f.type)} for f in BAR_SCHEMA],
        "symbols": sorted(pc.unique(bars.column("symbol")).to_pylist()),
        "start": pc.min(ts).as_py().isoformat(),
        "end": pc.max(ts).as_py().isoformat(),
        "rows": bars.num_rows,
        "partitions": partitions,
        "validation": report.to_dict(),
        "fingerprint": content_fingerprint(bars),
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def _prepare(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise DataError(f"ingest: {out} is a file; the destination must be a folder")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise DataError(
                f"ingest: {out} is not empty; pick a new folder or pass --overwrite to replace "
                "an earlier ingest"
            )
        if not (out / MANIFEST).is_file():
            raise DataError(
                f"ingest: {out} has no {MANIFEST}, so it is not an earlier ingest; "
                "refusing to delete it with --overwrite"
            )
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)


def content_fingerprint(bars: pa.Table) -> str:
    """blake2b over bars ordered by (symbol, ts): the same bars give the same digest,
    however they are chunked or stored."""
    h = hashlib.blake2b(digest_size=32)
    h.update(bars.schema.to_string().encode())
    runs = pc.value_counts(bars.column("symbol")).to_pylist()  # in order of first appearance
    h.update(json.dumps([[r["values"], r["counts"]] for r in runs]).encode())
    for name in BAR_SCHEMA.names[1:]:
        col = bars.column(name)
        if name == "ts":
            col = col.cast(pa.int64())
        values = np.ascontiguousarray(col.to_numpy(zero_copy_only=False))
        h.update(name.encode())
        h.update(values.tobytes())
    return h.hexdigest()


def read_manifest(dest: str | Path) -> dict[str, Any]:
    """The manifest of an ingested dataset."""
    path = Path(dest) / MANIFEST
    if not path.is_file():
        raise DataError(f"{Path(dest)}: no {MANIFEST}; was it written by streambt data ingest?")
    result: dict[str, Any] = json.loads(path.read_text())
    return result

"""Parquet feeds: a single file or a dataset directory, read lazily with ``pyarrow.dataset``.

A directory may be partitioned hive style (``symbol=AAA/date=2024-01-02/*.parquet``,
what ``streambt data ingest`` writes) or by plain nested folders
(``AAA/2024-01-02/*.parquet``). Only the bar columns are read, and the filter
on symbols and on ``[start - warmup, end)`` is pushed down: to the partitions
(a day partition is the UTC date of its bars' ``ts``) and to the row groups'
statistics.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

from ..errors import DataError, InvalidParameterError
from ..graph.ids import digest
from .feeds import FileFeed, bar_columns

PARQUET_SUFFIXES = (".parquet", ".parq", ".pq")
#: partition keys taken as the UTC date of the bars (pruned by the time range)
DAY_KEYS = ("date", "day", "dt")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class ParquetFeed(FileFeed):
    kind = "parquet"
    pushdown = True

    def __init__(
        self,
        path: str | Path,
        symbol: str | None = None,
        *,
        symbols: Sequence[str] | None = None,
        partitioning: str | Sequence[str] | None = None,
        **options: Any,
    ) -> None:
        super().__init__(path, symbol, **options)
        if isinstance(symbols, str):
            symbols = [symbols]
        self.symbols = sorted(set(symbols)) if symbols else None
        if partitioning is not None and partitioning != "hive":
            if isinstance(partitioning, str) or not all(isinstance(p, str) for p in partitioning):
                raise InvalidParameterError(
                    f"partitioning={partitioning!r}: pass 'hive' or the folder levels' names, "
                    "e.g. ['symbol', 'date']"
                )
            partitioning = list(partitioning)
        self.partitioning = partitioning

    def _describe(self) -> dict[str, Any]:
        d: dict[str, Any] = {"kind": self.kind, "path": self.path.name, "symbol": self.symbol}
        if self.symbols:
            d["symbols"] = self.symbols
        if self.partitioning is not None:
            d["partitioning"] = self.partitioning
        return d

    # -- the dataset ----------------------------------------------------------
    def files(self) -> list[Path]:
        """The dataset's Parquet files, in a stable order."""
        if self.path.is_file():
            return [self.path]
        found = [
            p
            for p in self.path.rglob("*")
            if p.suffix in PARQUET_SUFFIXES
            and p.is_file()
            and not any(part.startswith((".", "_")) for part in p.relative_to(self.path).parts)
        ]
        if not found:
            raise DataError(f"parquet feed {self.path}: no *.parquet files in the folder")
        return sorted(found)

    def dataset(self) -> ds.Dataset:
        """The lazy ``pyarrow.dataset`` over the files, with the partition columns typed."""
        files = self.files()
        if self.path.is_file():
            return ds.dataset(str(self.path), format="parquet")
        part = self._partitioning(files[0].relative_to(self.path).parts[:-1])
        return ds.dataset(
            [str(f) for f in files],
            format="parquet",
            partitioning=part,
            partition_base_dir=str(self.path),
        )

    def _partitioning(self, levels: tuple[str, ...]) -> ds.Partitioning | None:
        if not levels and self.partitioning is None:
            return None
        hive = self.partitioning == "hive" or (
            self.partitioning is None and all("=" in lv for lv in levels)
        )
        if hive:
            pairs = [lv.split("=", 1) for lv in levels]
            return ds.partitioning(
                pa.schema([_partition_field(k, v) for k, v in pairs]), flavor="hive"
            )
        if isinstance(self.partitioning, list):
            names = self.partitioning
            if len(names) != len(levels):
                raise DataError(
                    f"parquet feed {self.path}: partitioning={names} names {len(names)} folder "
                    f"level(s), the files sit {len(levels)} deep ({'/'.join(levels)}/...)"
                )
        else:
            names = ["date" if _DATE.match(lv) else "symbol" for lv in levels]
            if names.count("symbol") > 1 or names.count("date") > 1:
                raise DataError(
                    f"parquet feed {self.path}: cannot tell what the folders {'/'.join(levels)} "
                    "mean; pass partitioning=['symbol', 'date'] (one name per level) or use "
                    "hive folders such as symbol=AAA/date=2024-01-02"
                )
        return ds.partitioning(
            pa.schema([_partition_field(k, v) for k, v in zip(names, levels, strict=True)])
        )

    def _content_digest(self) -> str:
        # Size and modification time of every file stand for the content.
        parts = []
        for f in self.files():
            st = f.stat()
            parts.append([str(f.resolve()), st.st_size, st.st_mtime_ns])
        return digest(parts)

    # -- reading --------------------------------------------------------------
    def _read(self, lo: pd.Timestamp | None = None, hi: pd.Timestamp | None = None) -> pa.Table:
        return self.scan(lo, hi, times_only=False)

    def _read_times(self, lo: pd.Timestamp | None, hi: pd.Timestamp | None) -> pa.Table:
        return self.scan(lo, hi, times_only=True)

    def scan(
        self,
        lo: pd.Timestamp | None = None,
        hi: pd.Timestamp | None = None,
        times_only: bool = False,
    ) -> pa.Table:
        """Read the bar columns of ``[lo, hi)`` (only symbol and time with ``times_only``)."""
        dataset = self.dataset()
        columns, where = self.plan(dataset, lo, hi, times_only)
        if columns is None:  # let normalization name what is missing
            return dataset.schema.empty_table()
        try:
            return dataset.to_table(columns=columns, filter=where)
        except (pa.ArrowInvalid, OSError) as exc:
            raise DataError(f"parquet feed {self.path}: cannot read ({exc})") from exc

    def plan(
        self,
        dataset: ds.Dataset,
        lo: pd.Timestamp | None,
        hi: pd.Timestamp | None,
        times_only: bool = False,
    ) -> tuple[list[str] | None, ds.Expression | None]:
        """The columns to read and the filter pushed down for ``[lo, hi)`` and the symbols."""
        schema = dataset.schema
        columns = bar_columns(schema.names, times_only)
        if columns is None:
            return None, None
        ts_name = columns[1] if columns[0].lower() == "symbol" else columns[0]
        ts_type = schema.field(ts_name).type
        where: list[ds.Expression] = []
        if pa.types.is_timestamp(ts_type):
            for bound, lower in ((lo, True), (hi, False)):
                if bound is None:
                    continue
                value = bound.to_pydatetime()
                if ts_type.tz is None:
                    value = value.replace(tzinfo=None)  # naive times are UTC
                scalar = pa.scalar(value, ts_type)
                where.append(ds.field(ts_name) >= scalar if lower else ds.field(ts_name) < scalar)
        for f in schema:
            if f.name.lower() in DAY_KEYS and pa.types.is_date32(f.type):
                # Prunes whole day folders; the ts filter above stays exact.
                if lo is not None:
                    where.append(ds.field(f.name) >= lo.date())
                if hi is not None:
                    where.append(ds.field(f.name) <= _last_day(hi))
        if self.symbols:
            sym = next((n for n in schema.names if n.lower() == "symbol"), None)
            if sym is None:
                raise DataError(
                    f"parquet feed {self.path}: symbols={self.symbols} given but the data has "
                    "no symbol column or partition"
                )
            where.append(ds.field(sym).isin(self.symbols))
        expr = None
        for w in where:
            expr = w if expr is None else expr & w
        return columns, expr


def _partition_field(key: str, value: str) -> pa.Field:
    if key.lower() in DAY_KEYS and _DATE.match(value):
        return pa.field(key, pa.date32())
    return pa.field(key, pa.string())


def _last_day(hi: pd.Timestamp) -> date:
    """The UTC date of the last instant before ``hi``."""
    last: date = (hi - timedelta(microseconds=1)).date()
    return last

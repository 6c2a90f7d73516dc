"""One Arrow/Spark schema for the several tables a per-key operator emits.

A Scan group with a simulation produces, for each key, the bars with their
new indicator columns, the equity rows, and the orders, fills and trades. A
grouped Spark UDF returns one schema, so every table is one *part* of a
:class:`Layout`: rows carry ``_kind`` (which part), ``_group`` and ``_seq``
(their order: by group, then within the group's output), and the part's
columns, prefixed ``<kind>__``; the other parts' columns are null. The group
orders what keys alone do not: a block of portfolios in a batch run, a
portfolio within a stream's one key (its events carry no portfolio column). One pass of the kernels fills every table; the
output is persisted and split by ``_kind``. (Separate passes per table would
run the simulation once per table.)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

KIND = "_kind"
SEQ = "_seq"
GROUP = "_group"
#: the columns that order a part's rows (after the part's own keys)
ORDER_COLUMNS = (GROUP, SEQ)


@dataclass(frozen=True)
class Layout:
    """The parts (kind -> Arrow schema) of a record table."""

    parts: tuple[tuple[str, pa.Schema], ...]

    @classmethod
    def of(cls, parts: Mapping[str, pa.Schema]) -> Layout:
        return cls(tuple(parts.items()))

    def part(self, kind: str) -> pa.Schema:
        return dict(self.parts)[kind]

    @property
    def schema(self) -> pa.Schema:
        fields = [
            pa.field(KIND, pa.string()),
            pa.field(SEQ, pa.int64()),
            pa.field(GROUP, pa.int64()),
        ]
        for kind, schema in self.parts:
            fields += [pa.field(f"{kind}__{f.name}", f.type) for f in schema]
        return pa.schema(fields)

    def pack(self, tables: Mapping[str, pa.Table], group: int = 0) -> pa.Table:
        """Stack ``tables`` (kind -> rows of that part's schema) into one record table of
        ``group``; a table that is not a part of this layout is left out."""
        out = []
        kinds = {kind for kind, _ in self.parts}
        for kind, table in tables.items():
            n = table.num_rows
            if n == 0 or kind not in kinds:
                continue
            cols: list[pa.Array | pa.ChunkedArray] = [
                pa.repeat(pa.scalar(kind, pa.string()), n),
                pa.array(np.arange(n, dtype=np.int64)),
                pa.repeat(pa.scalar(group, pa.int64()), n),
            ]
            for other, schema in self.parts:
                for f in schema:
                    if other == kind:
                        cols.append(table.column(f.name).cast(f.type))
                    else:
                        cols.append(pa.nulls(n, f.type))
            out.append(pa.Table.from_arrays(cols, schema=self.schema))
        if not out:
            return self.schema.empty_table()
        return out[0] if len(out) == 1 else pa.concat_tables(out)

    def unpack(self, records: DataFrame, kind: str, seq: bool = False) -> DataFrame:
        """The rows of ``kind`` with their own column names (and ``_group``, ``_seq`` when
        asked)."""
        cols = [F.col(f"{kind}__{f.name}").alias(f.name) for f in self.part(kind)]
        if seq:
            cols += [F.col(c) for c in ORDER_COLUMNS]
        return records.filter(F.col(KIND) == kind).select(*cols)

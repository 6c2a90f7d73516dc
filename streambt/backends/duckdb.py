"""The embedded default engine: Ibis on DuckDB for Relational stages, kernels over Arrow for Scans.

``mode="batch"`` runs each Relational stage as one fused Ibis expression and
each Scan stage as one pass of the kernels per symbol (``placement="kernels"``
runs every node as a kernel). ``mode="stream"`` runs every node as a kernel,
micro-batch by micro-batch (see :mod:`streambt.backends.local`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import ibis
import ibis.expr.types as ir
import numpy as np
import pyarrow as pa

from ..compile.lowering import IbisLowering
from ..io.feeds import TS_TYPE
from ..io.resample import RESAMPLED_SCHEMA
from ..io.timeframes import Timeframe
from ..ops.base import Op, OpKind
from .base import Support
from .local import LocalBackend, decision_times

FIELDS = ("open", "high", "low", "close", "volume")

if TYPE_CHECKING:
    from ..graph import Graph, Node


class DuckDBBackend(LocalBackend):
    """Ibis + DuckDB, in process. The reference every other engine is compared with."""

    name = "duckdb"
    relational_form = "one fused Ibis expression (DuckDB)"
    SUPPORT: ClassVar[dict[tuple[str, OpKind], Support]] = {
        ("batch", OpKind.ELEMENTWISE): Support(True, "elementwise: an Ibis column expression"),
        ("batch", OpKind.WINDOWED): Support(
            True, "windowed: an Ibis window over (symbol ORDER BY ts ROWS n-1 PRECEDING)"
        ),
        ("batch", OpKind.RECURSIVE): Support(
            False, "recursive: state' = f(state, row) has no SQL window form; incremental kernel"
        ),
    }

    def __init__(self, placement: str = "relational", micro_batch: int = 1_000) -> None:
        super().__init__(placement, micro_batch)
        self.lowering = IbisLowering()
        self._con: Any = None

    def lowers(self, op: type[Op]) -> bool:
        return self.lowering.supports(op)

    def frame(self, bars: pa.Table) -> ir.Table:
        return ibis.memtable(bars)

    def lower_stage(self, frame: ir.Table, nodes: list[Node], graph: Graph) -> ir.Table:
        return self.lowering.lower_stage(frame, nodes, graph)

    @property
    def con(self) -> Any:
        if self._con is None:
            self._con = ibis.duckdb.connect()
        return self._con

    def collect(self, frame: ir.Table) -> pa.Table:
        result: pa.Table = self.con.to_pyarrow(frame.order_by(["symbol", "ts"]))
        return result

    def resample(self, bars: pa.Table, root: Node) -> pa.Table:
        if self.placement == "kernels":
            return super().resample(bars, root)
        p = root.param_dict
        return _ibis_resample(
            self.con, bars, Timeframe.from_key(p["timeframe"]), Timeframe.from_key(p["base"])
        )

    def align(self, source: pa.Table, target: pa.Table, node: Node, graph: Graph) -> pa.Table:
        if self.placement == "kernels":
            return super().align(source, target, node, graph)
        x = dict(node.inputs)["x"]
        column = graph.node(x.node_id).column(x.output)
        return _ibis_asof(
            self.con,
            source,
            target,
            column,
            node.column("value"),
            Timeframe.from_key(node.param_dict["target"]),
        )


def _ibis_resample(con: Any, bars: pa.Table, tf: Timeframe, base: Timeframe) -> pa.Table:
    """Closed higher-timeframe bars as one Ibis group-by.

    Intraday buckets are computed in SQL (epoch-aligned); daily buckets in a
    time zone come from Arrow, since their length follows the zone's DST.
    """
    keyed = bars.select(["symbol", "ts", *FIELDS])
    if tf.daily:
        ts = bars.column("ts").cast(pa.int64()).to_numpy()
        starts = tf.bucket_starts(ts)
        keyed = keyed.append_column("bucket", pa.array(starts, pa.int64()).cast(TS_TYPE))
        keyed = keyed.append_column(
            "bucket_end", pa.array(tf.bucket_ends(starts), pa.int64()).cast(TS_TYPE)
        )
        t = ibis.memtable(keyed)
    else:
        t = ibis.memtable(keyed)
        epoch = ibis.literal("1970-01-01T00:00:00+00:00").cast(t.ts.type())
        micros = t.ts.delta(epoch, unit="microsecond")
        t = t.mutate(bucket=epoch + ((micros // tf.micros) * tf.micros).as_interval("us"))
        t = t.mutate(bucket_end=t.bucket + ibis.interval(microseconds=tf.micros))
    # The base bars are intraday (a resample target is always coarser than its base).
    t = t.mutate(decided=t.ts + ibis.interval(microseconds=base.micros))
    agg = t.group_by(["symbol", "bucket"]).aggregate(
        open=t.open.argmin(t.ts),
        high=t.high.max(),
        low=t.low.min(),
        close=t.close.argmax(t.ts),
        volume=t.volume.sum(),
        closes_at=t.bucket_end.max(),
    )
    last = t.group_by("symbol").aggregate(last_decided=t.decided.max())
    # A bucket is closed once some row of its symbol was decided at or after its end.
    closed = agg.join(last, "symbol").filter(lambda r: r.closes_at <= r.last_decided)
    expr = closed.select(
        "symbol", ts="bucket", **{f: closed[f] for f in FIELDS}, closes_at="closes_at"
    )
    table: pa.Table = con.to_pyarrow(expr.order_by(["symbol", "ts"]))
    return table.cast(RESAMPLED_SCHEMA)


def _ibis_asof(
    con: Any, source: pa.Table, target: pa.Table, column: str, name: str, tf: Timeframe
) -> pa.Table:
    """``target`` with ``source[column]`` as of each target row's close: one Ibis as-of join."""
    left = ibis.memtable(
        pa.table(
            {
                "symbol": target.column("symbol"),
                "row": pa.array(np.arange(target.num_rows)),
                "decided": pa.array(decision_times(target, tf), pa.int64()),
            }
        )
    )
    right = ibis.memtable(
        pa.table(
            {
                "symbol": source.column("symbol"),
                "closes_at": source.column("closes_at").cast(pa.int64()),
                "value": source.column(column).cast(pa.float64()),
            }
        )
    )
    joined = left.asof_join(right, on=left.decided >= right.closes_at, predicates="symbol")
    got: pa.Table = con.to_pyarrow(joined.select("row", "value").order_by("row"))
    return target.append_column(name, got.column("value").cast(pa.float64()))

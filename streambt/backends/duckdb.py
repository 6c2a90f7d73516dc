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
import pyarrow as pa

from ..compile.lowering import IbisLowering
from ..ops.base import Op, OpKind
from .base import Support
from .local import LocalBackend

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

    def collect(self, frame: ir.Table) -> pa.Table:
        if self._con is None:
            self._con = ibis.duckdb.connect()
        result: pa.Table = self._con.to_pyarrow(frame.order_by(["symbol", "ts"]))
        return result

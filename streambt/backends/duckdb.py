"""The embedded default engine: Ibis on DuckDB for Relational stages, kernels over Arrow for Scans.

``mode="batch"`` runs each Relational stage as one fused Ibis expression and
each Scan stage as one pass of the kernels per symbol. ``mode="stream"`` runs
every node as a kernel, fed micro-batch by micro-batch in event-time order: it
is the local reference for streaming semantics.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from ..compile.ibis_lowering import IbisLowering
from ..compile.plan import METRICS, RELATIONAL, SCAN, SIMULATE, SOURCE, Plan
from ..errors import BackendError
from ..metrics import metrics_expr
from ..ops.base import Op, OpKind
from .base import Backend, Support
from .kernel_host import KernelRunner, SimOutput, time_ordered_chunks

if TYPE_CHECKING:
    from ..cerebro import Cerebro
    from ..result import Result

KERNEL_ONLY = Support(False, "stream mode: every node is a kernel, fed micro-batch by micro-batch")


class DuckDBBackend(Backend):
    """Ibis + DuckDB, in process. The reference every other engine is compared with."""

    name = "duckdb"
    SUPPORT: ClassVar[dict[tuple[str, OpKind], Support]] = {
        ("batch", OpKind.ELEMENTWISE): Support(True, "elementwise: an Ibis column expression"),
        ("batch", OpKind.WINDOWED): Support(
            True, "windowed: an Ibis window over (symbol ORDER BY ts ROWS n-1 PRECEDING)"
        ),
        ("batch", OpKind.RECURSIVE): Support(
            False, "recursive: state' = f(state, row) has no SQL window form; incremental kernel"
        ),
        ("stream", OpKind.ELEMENTWISE): KERNEL_ONLY,
        ("stream", OpKind.WINDOWED): KERNEL_ONLY,
        ("stream", OpKind.RECURSIVE): KERNEL_ONLY,
    }

    def __init__(self) -> None:
        self.lowering = IbisLowering()

    def support(self, op: type[Op], mode: str) -> Support:
        found = self.SUPPORT.get(
            (mode, op.kind), Support(False, f"{op.kind.value}: runs as a kernel")
        )
        if found.ok and not self.lowering.supports(op):
            return Support(
                False,
                f"{op.kind.value}: no Ibis lowering for {op.op_name()} yet; incremental kernel",
            )
        return found

    def run(self, cerebro: Cerebro, plan: Plan, **options: Any) -> Result:
        from ..result import Result

        micro_batch = int(options.pop("micro_batch", 1_000))
        if options:
            raise BackendError(
                f"duckdb backend: unknown option(s) {', '.join(sorted(options))}; it takes micro_batch"
            )
        con = ibis.duckdb.connect()
        bars, universes = cerebro.load_bars()
        if plan.mode == "stream":
            factors, sim = self._run_stream(cerebro, plan, bars, universes, micro_batch)
        else:
            factors, sim = self._run_batch(cerebro, plan, con, bars, universes)
        tables = sim.tables()
        metrics = self._metrics(con, plan, tables, cerebro)
        return Result(
            factors=cerebro.canonical_factors(factors),
            orders=tables["orders"],
            fills=tables["fills"],
            trades=tables["trades"],
            equity=tables["equity"],
            metrics=metrics,
            plan=plan,
            columns=cerebro.column_names(),
        )

    def _run_batch(
        self,
        cerebro: Cerebro,
        plan: Plan,
        con: Any,
        bars: pa.Table,
        universes: dict[str, frozenset[str]],
    ) -> tuple[pa.Table, SimOutput]:
        graph = cerebro.graph
        expr: ir.Table = ibis.memtable(bars)
        table: pa.Table | None = bars
        sim = SimOutput()
        for stage in plan.stages:
            if stage.kind == SOURCE:
                continue
            if stage.kind == RELATIONAL:
                expr = self.lowering.lower_stage(expr, stage.nodes, graph)
                table = None
            elif stage.kind in (SCAN, SIMULATE):
                if table is None:
                    table = con.to_pyarrow(expr.order_by(["symbol", "ts"]))
                runner = KernelRunner(graph, stage.nodes, universes)
                table = runner.feed(table)
                if stage.kind == SIMULATE:
                    sim = runner.finish()
                expr = ibis.memtable(table)
        if table is None:
            table = con.to_pyarrow(expr.order_by(["symbol", "ts"]))
        return table, sim

    def _run_stream(
        self,
        cerebro: Cerebro,
        plan: Plan,
        bars: pa.Table,
        universes: dict[str, frozenset[str]],
        micro_batch: int,
    ) -> tuple[pa.Table, SimOutput]:
        nodes = [n for s in plan.stages if s.kind in (SCAN, SIMULATE, RELATIONAL) for n in s.nodes]
        runner = KernelRunner(cerebro.graph, nodes, universes)
        chunks = [runner.feed(chunk) for chunk in time_ordered_chunks(bars, micro_batch)]
        factors = pa.concat_tables(chunks).sort_by([("symbol", "ascending"), ("ts", "ascending")])
        return factors, runner.finish()

    def _metrics(
        self, con: Any, plan: Plan, tables: dict[str, pa.Table], cerebro: Cerebro
    ) -> pa.Table:
        if not plan.stages_of(METRICS):
            return pa.table({})
        expr = metrics_expr(
            ibis.memtable(tables["equity"]),
            ibis.memtable(tables["trades"]),
            initial_cash=cerebro.cash,
            periods_per_year=cerebro.periods_per_year,
        )
        return con.to_pyarrow(expr.order_by(["strategy", "symbol"]))

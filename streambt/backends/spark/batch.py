"""A plan in batch mode on Spark: the data stays in Spark until the result tables.

- Relational stages: the same :class:`~streambt.compile.lowering.IbisLowering`
  as DuckDB, over ``ibis.pyspark.connect(spark)`` (the frame is a temp view;
  the fused expression compiles to one Spark SQL query).
- Scan / Simulate stages: ``groupBy(key).applyInArrow`` running
  :class:`~streambt.backends.kernel_host.KernelRunner` over each key's rows in
  (symbol, ts) order. A group with a simulation returns one
  :class:`~streambt.backends.spark.records.Layout` (bars, equity, orders,
  fills, trades), persisted and split.
- Resample: per-symbol ``applyInArrow`` over :func:`streambt.io.resample.resample_bars`
  (bucket bounds follow the exchange's calendar, which Spark SQL has no form for).
  Align: a cogroup of the two frames by symbol, ``applyInArrow`` over
  :func:`streambt.backends.local.align_frames` (an exact as-of per symbol).
- Metrics: :func:`streambt.metrics.metrics_from_bars` on ibis pyspark tables
  over the equity and trades, which never leave Spark before that query.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa
from ibis.formats.pyarrow import PyArrowData
from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import from_arrow_schema, to_arrow_schema
from pyspark.sql.types import DoubleType, StructField, StructType

from ...cache import CacheMiss
from ...compile.lowering import IbisLowering
from ...compile.plan import ALIGN, METRICS, RELATIONAL, RESAMPLE, SIMULATE, Plan
from ...graph.frames import BASE, frame_of
from ...io.feeds import BAR_SCHEMA, TS_TYPE
from ...io.resample import RESAMPLED_SCHEMA, resample_bars
from ...io.timeframes import Timeframe
from ...metrics import bar_frame, metrics_from_bars
from ...ops.base import OpKind
from ..event_tables import EVENT_SCHEMAS
from ..kernel_host import EQUITY_SCHEMA, KernelRunner
from ..local import align_frames, kernel_runs
from .records import KIND, SEQ, Layout
from .sources import load_bars

if TYPE_CHECKING:
    from ...cerebro import Cerebro
    from ...graph import Graph, Node
    from ...result import Result

ORDER = ["symbol", "ts"]
#: result tables of a simulation, with the columns that order them
SIM_TABLES: dict[str, pa.Schema] = {"equity": EQUITY_SCHEMA, **EVENT_SCHEMAS}


def sim_order(name: str, schema: pa.Schema) -> list[str]:
    """The deterministic order of a result table (that of SimOutput.tables)."""
    return ["strategy", "symbol", "ts" if name == "equity" else schema.names[2]]


class SparkBatch:
    """One batch run of a plan; holds the temp views and persisted frames it must release."""

    def __init__(self, spark: SparkSession, cerebro: Cerebro, plan: Plan) -> None:
        self.spark = spark
        self.cerebro = cerebro
        self.plan = plan
        self.graph: Graph = cerebro.graph
        self.con = ibis.pyspark.connect(spark)
        self.lowering = IbisLowering()
        self.tag = uuid.uuid4().hex[:12]
        self.views: list[str] = []
        self.persisted: list[DataFrame] = []
        #: the simulation's record table, its layout, and the frame read from its bars
        self.records: DataFrame | None = None
        self.layout: Layout | None = None
        self.records_bars: DataFrame | None = None

    # -- the run -------------------------------------------------------------
    def run(self) -> Result:
        from ...result import Result

        try:
            bars, universes = load_bars(self.spark, self.cerebro)
            if self.plan.cache is not None and self.plan.cached:
                bars = attach_cached(bars, self.plan)
            frames, sims = self.stages(bars, universes)
            tables, bars_part = self.collect_records()
            if bars_part is not None and frames[BASE] is self.records_bars:
                factors = self.cerebro.canonical_factors(conform(bars_part, BAR_SCHEMA))
            else:
                factors = self.collect_frame(frames[BASE], BASE)
            higher = {
                name: self.collect_frame(frames[f], f) for f, name in self.plan.frame_names.items()
            }
            metrics = self.metrics(sims) if self.plan.stages_of(METRICS) else pa.table({})
        finally:
            self.release()
        return Result(
            factors=factors,
            frames=higher,
            orders=tables["orders"],
            fills=tables["fills"],
            trades=tables["trades"],
            equity=tables["equity"],
            metrics=metrics,
            plan=self.plan,
        )

    def stages(
        self, bars: DataFrame, universes: Mapping[str, frozenset[str]]
    ) -> tuple[dict[str, DataFrame], dict[str, DataFrame]]:
        """Run every stage lazily; the frames and the simulation tables as DataFrames."""
        frames: dict[str, DataFrame] = {BASE: bars}
        pending: dict[str, ir.Table] = {}
        sims: dict[str, DataFrame] = {}

        def table(frame: str) -> DataFrame:
            if frame in pending:
                frames[frame] = self.compile(pending.pop(frame))
            return frames[frame]

        for group in kernel_runs(self.plan):
            stage = group[0]
            frame = stage.frame
            # Frames made by Python UDFs are read by several later stages: kept, not recomputed.
            if stage.kind == RESAMPLE:
                frames[frame] = self.keep(resample(table(BASE), stage.nodes[0]))
            elif stage.kind == ALIGN:
                for node in stage.nodes:
                    source = frame_of(self.graph, self.graph.node(dict(node.inputs)["x"].node_id))
                    frames[frame] = align(table(source), table(frame), node, self.graph)
                frames[frame] = self.keep(frames[frame])
            elif stage.kind == RELATIONAL:
                lazy = pending.pop(frame) if frame in pending else self.ibis_table(frames[frame])
                pending[frame] = self.lowering.lower_stage(lazy, stage.nodes, self.graph)
            else:
                nodes = [n for s in group for n in s.nodes]
                if any(s.kind == SIMULATE for s in group):
                    frames[frame], sims = self.simulate(table(frame), nodes, universes, stage.key)
                else:
                    frames[frame] = self.keep(
                        scan(table(frame), self.graph, nodes, universes, stage.key)
                    )
        for frame in list(pending):
            table(frame)
        return frames, sims

    def keep(self, df: DataFrame) -> DataFrame:
        kept = df.persist(StorageLevel.MEMORY_AND_DISK)
        self.persisted.append(kept)
        return kept

    # -- relational ----------------------------------------------------------
    def view(self, df: DataFrame) -> str:
        name = f"streambt_{self.tag}_{len(self.views)}"
        df.createOrReplaceTempView(name)
        self.views.append(name)
        return name

    def ibis_table(self, df: DataFrame) -> ir.Table:
        return self.con.table(self.view(df))

    def compile(self, expr: ir.Table) -> DataFrame:
        return self.spark.sql(self.con.compile(expr))

    # -- simulation ----------------------------------------------------------
    def simulate(
        self,
        frame: DataFrame,
        nodes: list[Node],
        universes: Mapping[str, frozenset[str]],
        key: str,
    ) -> tuple[DataFrame, dict[str, DataFrame]]:
        """One pass of the kernels and simulations; the frame with its new columns, and the
        simulation tables, all read from one persisted record table."""
        bars_out = with_columns(frame.schema, nodes)
        scans = [n for n in nodes if n.kind is not OpKind.SIMULATION]
        parts: dict[str, pa.Schema] = {"bars": to_arrow_schema(bars_out)} if scans else {}
        layout = Layout.of({**parts, **SIM_TABLES})
        fn = simulate_fn(self.graph, nodes, dict(universes), layout, bool(scans))
        records = frame.groupBy(key).applyInArrow(fn, schema=from_arrow_schema(layout.schema))
        records = self.keep(records)
        self.records, self.layout = records, layout
        out = layout.unpack(records, "bars") if scans else frame
        self.records_bars = out if scans else None
        return out, {name: layout.unpack(records, name, seq=True) for name in SIM_TABLES}

    # -- results -------------------------------------------------------------
    def collect_frame(self, df: DataFrame, frame: str) -> pa.Table:
        table = conform(
            df.orderBy(*ORDER).toArrow(), BAR_SCHEMA if frame == BASE else RESAMPLED_SCHEMA
        )
        return self.cerebro.canonical_factors(table, frame)

    def collect_records(self) -> tuple[dict[str, pa.Table], pa.Table | None]:
        """The simulation tables (and the bars part, if any) from one collect of the records;
        ordered on the driver, where they are results anyway."""
        if self.records is None or self.layout is None:
            return {name: schema.empty_table() for name, schema in SIM_TABLES.items()}, None
        got = self.records.toArrow()
        parts = split_records(got, self.layout)
        tables = {}
        for name, schema in SIM_TABLES.items():
            keys = [*sim_order(name, schema), SEQ]
            tables[name] = (
                parts[name]
                .sort_by([(k, "ascending") for k in keys])
                .select(schema.names)
                .cast(schema)
            )
        bars = None
        if "bars" in parts:
            bars = parts["bars"].sort_by([(k, "ascending") for k in ORDER]).drop_columns([SEQ])
        return tables, bars

    def metrics(self, sims: Mapping[str, DataFrame]) -> pa.Table:
        cash, ppy = self.cerebro.cash, self.cerebro.periods_per_year
        equity = self.ibis_table(sims["equity"].drop(SEQ))
        trades = self.ibis_table(sims["trades"].drop(SEQ))
        # The per-bar frame feeds every metric family: computed once.
        bars = self.compile(bar_frame(equity, cash)).persist(StorageLevel.MEMORY_AND_DISK)
        self.persisted.append(bars)
        expr = metrics_from_bars(self.ibis_table(bars), trades, cash, ppy)
        got = self.compile(expr).toArrow()
        table: pa.Table = PyArrowData.convert_table(got, expr.schema())
        # ibis types Spark's TIMESTAMP without a zone; the session's zone is UTC.
        schema = pa.schema(
            [
                pa.field(f.name, TS_TYPE) if pa.types.is_timestamp(f.type) else f
                for f in table.schema
            ]
        )
        return table.cast(schema)

    def release(self) -> None:
        for name in self.views:
            self.spark.catalog.dropTempView(name)
        for df in self.persisted:
            df.unpersist()
        self.views.clear()
        self.persisted.clear()


def split_records(table: pa.Table, layout: Layout) -> dict[str, pa.Table]:
    """Arrow records -> kind -> its rows with their own column names and ``_seq``."""
    import pyarrow.compute as pc

    out = {}
    for kind, schema in layout.parts:
        rows = table.filter(pc.equal(table.column(KIND), kind))
        cols = {f.name: rows.column(f"{kind}__{f.name}") for f in schema}
        cols[SEQ] = rows.column(SEQ)
        out[kind] = pa.table(cols)
    return out


# -- per-key functions (pickled to the executors) ------------------------------------
def with_columns(schema: StructType, nodes: list[Node]) -> StructType:
    """``schema`` with the float64 output columns of the indicator ``nodes``."""
    fields = list(schema.fields)
    for node in nodes:
        if node.kind is OpKind.SIMULATION:
            continue
        fields += [StructField(node.column(o), DoubleType(), True) for o in node.op.outputs]
    return StructType(fields)


def scan(
    frame: DataFrame,
    graph: Graph,
    nodes: list[Node],
    universes: Mapping[str, frozenset[str]],
    key: str,
) -> DataFrame:
    """``frame`` with the kernels' columns, one key at a time."""
    out = with_columns(frame.schema, nodes)
    return frame.groupBy(key).applyInArrow(scan_fn(graph, nodes, dict(universes), out), schema=out)


def scan_fn(
    graph: Graph, nodes: list[Node], universes: dict[str, frozenset[str]], out: StructType
) -> Callable[[pa.Table], pa.Table]:
    schema = to_arrow_schema(out)

    def apply(table: pa.Table) -> pa.Table:
        runner = KernelRunner(graph, nodes, universes)
        return runner.feed(table.sort_by([(k, "ascending") for k in ORDER])).cast(schema)

    return apply


def simulate_fn(
    graph: Graph,
    nodes: list[Node],
    universes: dict[str, frozenset[str]],
    layout: Layout,
    with_bars: bool,
) -> Callable[[pa.Table], pa.Table]:
    def apply(table: pa.Table) -> pa.Table:
        runner = KernelRunner(graph, nodes, universes)
        bars = runner.feed(table.sort_by([(k, "ascending") for k in ORDER]))
        tables = runner.finish().tables()
        if with_bars:
            tables["bars"] = bars
        return layout.pack(tables)

    return apply


def resample(bars: DataFrame, root: Node) -> DataFrame:
    """The closed higher-timeframe bars of ``root``, per symbol."""
    p = root.param_dict
    fn = resample_fn(p["timeframe"], p["base"])
    return (
        bars.select(*BAR_SCHEMA.names)
        .groupBy("symbol")
        .applyInArrow(fn, schema=from_arrow_schema(RESAMPLED_SCHEMA))
    )


def resample_fn(timeframe: str, base: str) -> Callable[[pa.Table], pa.Table]:
    def apply(table: pa.Table) -> pa.Table:
        ordered = table.sort_by([(k, "ascending") for k in ORDER]).cast(BAR_SCHEMA)
        return resample_bars(ordered, Timeframe.from_key(timeframe), Timeframe.from_key(base))

    return apply


def align(source: DataFrame, target: DataFrame, node: Node, graph: Graph) -> DataFrame:
    """``target`` with the AsOf ``node``'s column, symbol by symbol."""
    out = StructType([*target.schema.fields, StructField(node.column("value"), DoubleType(), True)])
    fn = align_fn(graph, node, to_arrow_schema(out))
    return target.groupBy("symbol").cogroup(source.groupBy("symbol")).applyInArrow(fn, schema=out)


def align_fn(
    graph: Graph, node: Node, schema: pa.Schema
) -> Callable[[pa.Table, pa.Table], pa.Table]:
    def apply(target: pa.Table, source: pa.Table) -> pa.Table:
        by = [(k, "ascending") for k in ORDER]
        return align_frames(source.sort_by(by), target.sort_by(by), node, graph).cast(schema)

    return apply


# -- the factor cache and result conversion --------------------------------------------
def attach_cached(bars: DataFrame, plan: Plan) -> DataFrame:
    """``bars`` with the cached columns of ``plan.cached``; :class:`CacheMiss` when a file does
    not cover exactly these bars."""
    assert plan.cache is not None
    spark = bars.sparkSession
    for node in plan.cached:
        path = plan.cache.path(node)
        wanted = [node.column(o) for o in node.op.outputs]
        try:
            cached = spark.read.parquet(str(path))
        except Exception as exc:
            raise CacheMiss(node, f"{path} is unreadable ({type(exc).__name__})") from exc
        if not set(wanted) <= set(cached.columns):
            raise CacheMiss(node, f"{path} does not match these bars")
        keys = bars.select(*ORDER, F.lit(1).alias("_b"))
        both = keys.join(cached.select(*ORDER, F.lit(1).alias("_c")), ORDER, "full")
        unmatched = both.filter(F.col("_b").isNull() | F.col("_c").isNull()).limit(1).count()
        if unmatched:
            raise CacheMiss(node, f"{path} does not match these bars")
        bars = bars.join(cached.select(*ORDER, *wanted), ORDER, "left")
    return bars


def conform(table: pa.Table, base: pa.Schema) -> pa.Table:
    """Spark's Arrow as the engine-independent schema: bar columns typed as ``base``,
    indicator columns float64, every field nullable."""
    fields = []
    for f in table.schema:
        if f.name in base.names:
            fields.append(base.field(f.name))
        elif pa.types.is_floating(f.type):
            fields.append(pa.field(f.name, pa.float64()))
        else:
            fields.append(pa.field(f.name, f.type))
    return table.cast(pa.schema(fields))


def run_batch(spark: SparkSession, cerebro: Cerebro, plan: Plan, **_: Any) -> Result:
    return SparkBatch(spark, cerebro, plan).run()

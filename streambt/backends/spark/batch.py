"""A plan in batch mode on Spark: the data stays in Spark until the result tables.

- Relational stages: the same :class:`~streambt.compile.lowering.IbisLowering`
  as DuckDB, over ``ibis.pyspark.connect(spark)`` (the frame is a temp view;
  the fused expression compiles to one Spark SQL query).
- Scan / Simulate stages: ``groupBy(key).applyInArrow`` running
  :class:`~streambt.backends.kernel_host.KernelRunner` over each key's rows in
  (symbol, ts) order. A group with a simulation returns one
  :class:`~streambt.backends.spark.records.Layout` (bars, equity, orders,
  fills, trades), persisted and split. The strategies of a Simulate stage
  (a sweep's cells) are keyed by symbol or by (block of strategies, symbol):
  each symbol's rows go to every block once, with only the columns that block
  reads (:mod:`.keying`). Portfolios (the portfolio broker, ADR 0005) are keyed
  by block of portfolios: their indicators run per symbol first, then every
  row of a block's symbols goes to one group, whose
  :class:`~streambt.backends.portfolio_host.PortfolioHost` sees them in
  (ts, symbol) order; a sweep's cells spread as blocks of portfolios.
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
from pyspark import StorageLevel
from pyspark.sql import DataFrame, GroupedData, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import from_arrow_schema, to_arrow_schema
from pyspark.sql.types import DoubleType, StructField, StructType

from ...cache import CacheMiss
from ...compile.lowering import IbisLowering
from ...compile.plan import ALIGN, METRICS, RELATIONAL, RESAMPLE, SIMULATE, Plan
from ...errors import BackendError
from ...graph.frames import BASE, frame_of
from ...io.feeds import BAR_SCHEMA, TS_TYPE
from ...io.resample import RESAMPLED_SCHEMA, resample_bars
from ...io.timeframes import Timeframe
from ...metrics.keys import MetricKeys
from ...ops.base import OpKind
from ...ops.portfolio import Portfolio
from ...ops.source import BAR_FIELDS
from ..event_tables import EQUITY_SCHEMA, EVENT_SCHEMAS, PORTFOLIO_SCHEMAS, POSITION_SCHEMA
from ..kernel_host import KernelRunner, SimOutput
from ..local import align_frames, kernel_runs
from .keying import Block, block_count, split
from .metrics import spark_metrics
from .partial import TABLES, PartialResult
from .records import KIND, ORDER_COLUMNS, Layout
from .sources import load_bars
from .strategies import pack_classes, unpack_classes

if TYPE_CHECKING:
    from ...cerebro import Cerebro
    from ...graph import Graph, Node
    from ...result import Result
    from . import SparkBackend

ORDER = ["symbol", "ts"]
#: the block of strategies a row of a by-block Simulate stage goes to
BLOCK = "_block"
#: tasks per core for a Simulate stage's groups
PARTITIONS_PER_CORE = 4
#: result tables of a simulation with per-(strategy, symbol) accounts
SIM_TABLES: dict[str, pa.Schema] = {
    "equity": EQUITY_SCHEMA,
    "positions": POSITION_SCHEMA,
    **EVENT_SCHEMAS,
}
#: result tables of a run of the portfolio broker
PORTFOLIO_TABLES: dict[str, pa.Schema] = {
    "equity": EQUITY_SCHEMA,
    "positions": POSITION_SCHEMA,
    **PORTFOLIO_SCHEMAS,
}


def sim_schemas(graph: Graph) -> dict[str, pa.Schema]:
    """The simulation tables a run of ``graph`` makes."""
    return PORTFOLIO_TABLES if has_portfolio(graph) else SIM_TABLES


def collected_as(name: str) -> str:
    """The ``collect=`` name that brings table ``name`` back (the order history comes with
    the orders)."""
    return "orders" if name == "order_events" else name


def has_portfolio(graph: Graph) -> bool:
    return any(n.op is Portfolio for n in graph.of_kind(OpKind.SIMULATION))


def sim_order(name: str, schema: pa.Schema, portfolio: bool = False) -> list[str]:
    """The columns that give a result table the order of SimOutput.tables, after which
    ``_group`` and ``_seq`` break ties. A portfolio's events keep the kernel's order
    (the order of the group's output), portfolio after portfolio."""
    if name in ("equity", "positions"):
        return ["strategy", "symbol", "ts"]
    return [] if portfolio else ["strategy", "symbol", schema.names[2]]


def ordered(table: pa.Table, name: str, schema: pa.Schema, portfolio: bool) -> pa.Table:
    """A collected result table (with ``_group`` and ``_seq``) in its canonical order."""
    keys = [*sim_order(name, schema, portfolio), *ORDER_COLUMNS]
    return table.sort_by([(k, "ascending") for k in keys]).select(schema.names).cast(schema)


class SparkBatch:
    """One batch run of a plan; holds the temp views and persisted frames it must release."""

    def __init__(
        self,
        spark: SparkSession,
        cerebro: Cerebro,
        plan: Plan,
        options: SparkBackend | None = None,
    ) -> None:
        self.spark = spark
        self.sweep_key = options.sweep_key if options is not None else "auto"
        self.collected = options.collect if options is not None else frozenset(TABLES)
        self.cerebro = cerebro
        self.plan = plan
        self.graph: Graph = cerebro.graph
        self.portfolio = has_portfolio(self.graph)
        self.tables = sim_schemas(self.graph)
        #: the event-style strategy classes the portfolio hosts build, shipped by value
        self.classes = pack_classes(self.graph)
        self.con = ibis.pyspark.connect(spark)
        self.lowering = IbisLowering()
        self.tag = uuid.uuid4().hex[:12]
        self.views: list[str] = []
        self.persisted: list[DataFrame] = []
        #: the simulation's record table, its layout, and the frame read from its bars
        self.records: DataFrame | None = None
        self.layout: Layout | None = None
        self.records_bars: DataFrame | None = None
        #: by-block simulations: the columns each block's kernels added, per block
        self.block_outputs: list[tuple[str, ...]] = []

    # -- the run -------------------------------------------------------------
    def run(self) -> Result:
        from ...result import Result

        wanted = self.collected
        try:
            bars, universes = load_bars(self.spark, self.cerebro)
            if self.plan.cache is not None and self.plan.cached:
                bars = attach_cached(bars, self.plan)
            frames, sims = self.stages(bars, universes)
            tables, bars_part = self.collect_records()
            factors = self.factors(frames[BASE], bars_part) if "factors" in wanted else None
            higher = {}
            if "factors" in wanted:
                higher = {
                    name: self.collect_frame(frames[f], f)
                    for f, name in self.plan.frame_names.items()
                }
            metrics = pa.table({})
            if "metrics" in wanted and self.plan.stages_of(METRICS):
                metrics = self.metrics(sims)
        finally:
            self.release()
        empty = BAR_SCHEMA.empty_table()
        parts = {
            "factors": factors if factors is not None else empty,
            "frames": higher,
            **{
                name: tables.get(name, schema.empty_table()) for name, schema in self.tables.items()
            },
            "metrics": metrics,
            "plan": self.plan,
        }
        if wanted == frozenset(TABLES):
            return Result(**parts)
        return PartialResult(wanted, **parts)

    def factors(self, frame: DataFrame, bars_part: pa.Table | None) -> pa.Table:
        """The base frame's bars and columns: from the simulation's records when they hold
        every column, else collected, with the columns of by-block kernels put beside."""
        if bars_part is not None and frame is self.records_bars:
            return self.cerebro.canonical_factors(conform(bars_part, BAR_SCHEMA))
        table = conform(frame.orderBy(*ORDER).toArrow(), BAR_SCHEMA)
        if bars_part is not None and self.block_outputs:
            table = attach_block_columns(table, bars_part, self.block_outputs)
        return self.cerebro.canonical_factors(table)

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

    def run_records(
        self, grouped: GroupedData, fn: Callable[[pa.Table], pa.Table], layout: Layout
    ) -> tuple[DataFrame, dict[str, DataFrame]]:
        """One pass of ``fn`` over the groups: the record table (kept when the metrics read
        it after the collect; else the collect is its one reader and caching would only
        cost), and the simulation tables split from it, each with its order columns."""
        records = grouped.applyInArrow(fn, schema=from_arrow_schema(layout.schema))
        if "metrics" in self.collected:
            records = self.keep(records)
        self.records, self.layout = records, layout
        return records, {name: layout.unpack(records, name, seq=True) for name in self.sim_parts()}

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
    def sim_parts(self) -> dict[str, pa.Schema]:
        """The simulation tables the run needs: those collected, and what the metrics read."""
        return {name: schema for name, schema in self.tables.items() if self.wants(name)}

    def wants(self, name: str) -> bool:
        """Whether the run makes table ``name``: collected (the order history comes with the
        orders), or read by the metrics."""
        wanted = set(self.collected)
        if "metrics" in wanted:
            wanted |= {"equity", "trades"}
        return collected_as(name) in wanted

    def simulate(
        self,
        frame: DataFrame,
        nodes: list[Node],
        universes: Mapping[str, frozenset[str]],
        key: str,
    ) -> tuple[DataFrame, dict[str, DataFrame]]:
        """One pass of the kernels and simulations; the frame with its new columns, and the
        simulation tables, all read from one record table (cached when read twice)."""
        strategies = sum(1 for n in nodes if n.kind is OpKind.SIMULATION)
        symbols = count_symbols(universes)
        cores = self.spark.sparkContext.defaultParallelism
        if self.portfolio:
            # A portfolio's group holds all its symbols: only blocks of portfolios spread.
            blocks = block_count(self.sweep_key, strategies, 1, cores)
            return self.simulate_portfolios(frame, nodes, universes, blocks)
        stage = split(self.graph, nodes, block_count(self.sweep_key, strategies, symbols, cores))
        if len(stage.blocks) == 1:
            return self.simulate_by_symbol(frame, stage.blocks[0], universes, key)
        return self.simulate_by_block(frame, stage.shared, stage.blocks, universes)

    def partitions(self, groups: int) -> int:
        """Tasks for ``groups`` groups: up to four per core. Hashing a few keys into as many
        partitions as cores can leave a core idle; more, smaller tasks even the load out (and
        adaptive execution does not merge an explicit repartition back into one)."""
        return max(1, min(groups, PARTITIONS_PER_CORE * self.spark.sparkContext.defaultParallelism))

    def simulate_by_symbol(
        self,
        frame: DataFrame,
        block: Block,
        universes: Mapping[str, frozenset[str]],
        key: str,
    ) -> tuple[DataFrame, dict[str, DataFrame]]:
        """Every strategy of a symbol in one group: the frame passes once, whole."""
        nodes = list(block.nodes)
        scans = [n for n in nodes if n.kind is not OpKind.SIMULATION]
        with_bars = bool(scans) and "factors" in self.collected
        if "factors" not in self.collected:
            # Only what the kernels read travels to the Python workers.
            names = dict.fromkeys([key, "symbol", "ts", *block.inputs])
            frame = frame.select(*[F.col(f"`{c}`") for c in names])
        sim_parts = self.sim_parts()
        parts: dict[str, pa.Schema] = (
            {"bars": to_arrow_schema(with_columns(frame.schema, nodes))} if with_bars else {}
        )
        layout = Layout.of({**parts, **sim_parts})
        fn = simulate_fn(self.graph, nodes, dict(universes), layout, with_bars, set(sim_parts))
        spread = frame.repartition(self.partitions(count_symbols(universes)), key)
        records, sims = self.run_records(spread.groupBy(key), fn, layout)
        out = layout.unpack(records, "bars") if with_bars else frame
        self.records_bars = out if with_bars else None
        return out, sims

    def simulate_portfolios(
        self,
        frame: DataFrame,
        nodes: list[Node],
        universes: Mapping[str, frozenset[str]],
        blocks: int,
    ) -> tuple[DataFrame, dict[str, DataFrame]]:
        """Portfolios keyed by block: the stage's indicators and signals run per symbol
        first (each symbol in its own group); then each block of portfolios gets every row
        of its symbols in one group, with the columns it reads."""
        kernels = [n for n in nodes if n.kind is not OpKind.SIMULATION]
        portfolios = [n for n in nodes if n.kind is OpKind.SIMULATION]
        if kernels:
            frame = scan(frame, self.graph, kernels, universes, "symbol")
            if "factors" in self.collected:
                frame = self.keep(frame)  # read by the blocks and collected as the factors
        stage = split(self.graph, portfolios, blocks)
        # The host reads every bar field (fills, stops, valuation), whatever the graph reads.
        specs = tuple(
            Block(b.nodes, tuple(dict.fromkeys([*BAR_FIELDS, *b.inputs])), ()) for b in stage.blocks
        )
        rows = explode(frame, specs)
        rows = rows.repartition(self.partitions(len(specs)), BLOCK)
        sim_parts = self.sim_parts()
        layout = Layout.of(sim_parts)
        fn = block_fn(
            self.graph,
            [(list(b.nodes), list(b.inputs), []) for b in specs],
            dict(universes),
            layout,
            False,
            set(sim_parts),
            self.classes,
        )
        return frame, self.run_records(rows.groupBy(BLOCK), fn, layout)[1]

    def simulate_by_block(
        self,
        frame: DataFrame,
        shared: tuple[Node, ...],
        blocks: tuple[Block, ...],
        universes: Mapping[str, frozenset[str]],
    ) -> tuple[DataFrame, dict[str, DataFrame]]:
        """Strategies keyed by (block, symbol): the kernels several blocks read run once per
        symbol first; then each symbol's rows go to every block, with the columns it reads."""
        factors = "factors" in self.collected
        if shared:
            frame = scan(frame, self.graph, list(shared), universes, "symbol")
        if factors:
            frame = self.keep(frame)  # read by the blocks and collected as the factors
        exploded = explode(frame, blocks)
        groups = len(blocks) * count_symbols(universes)
        exploded = exploded.repartition(self.partitions(groups), BLOCK, "symbol")
        with_bars = factors and any(b.outputs for b in blocks)
        sim_parts = self.sim_parts()
        parts: dict[str, pa.Schema] = {}
        if with_bars:
            width = max(len(b.outputs) for b in blocks)
            parts["bars"] = pa.schema(
                [
                    pa.field("symbol", pa.string()),
                    pa.field("ts", TS_TYPE),
                    pa.field(BLOCK, pa.int64()),
                    *[pa.field(f"_p{j}", pa.float64()) for j in range(width)],
                ]
            )
        layout = Layout.of({**parts, **sim_parts})
        specs = [(list(b.nodes), list(b.inputs), list(b.outputs)) for b in blocks]
        fn = block_fn(
            self.graph, specs, dict(universes), layout, with_bars, set(sim_parts), self.classes
        )
        self.block_outputs = [b.outputs for b in blocks] if with_bars else []
        return frame, self.run_records(exploded.groupBy(BLOCK, "symbol"), fn, layout)[1]

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
        kinds = [
            k for k, _ in self.layout.parts if collected_as(k) in self.collected or k == "bars"
        ]
        if not kinds:
            return {}, None
        got = self.records.filter(F.col(KIND).isin(kinds)).toArrow()
        parts = split_records(got, self.layout)
        tables = {
            name: ordered(parts[name], name, schema, self.portfolio)
            for name, schema in self.tables.items()
            if name in parts and collected_as(name) in self.collected
        }
        bars = None
        if "bars" in parts:
            by = [*ORDER, BLOCK] if BLOCK in parts["bars"].column_names else ORDER
            bars = (
                parts["bars"]
                .sort_by([(k, "ascending") for k in by])
                .drop_columns(list(ORDER_COLUMNS))
            )
        return tables, bars

    def metrics(self, sims: Mapping[str, DataFrame]) -> pa.Table:
        keys = MetricKeys.of(self.graph)
        cerebro = self.cerebro
        return spark_metrics(
            self.spark, sims["equity"], sims["trades"], keys, cerebro.cash, cerebro.periods_per_year
        )

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
        for name in ORDER_COLUMNS:
            cols[name] = rows.column(name)
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
    wanted: set[str],
) -> Callable[[pa.Table], pa.Table]:
    def apply(table: pa.Table) -> pa.Table:
        runner = runner_for(graph, nodes, universes, wanted)
        bars = runner.feed(table.sort_by([(k, "ascending") for k in ORDER]))
        tables = sim_tables(runner.finish(), wanted)
        if with_bars:
            tables["bars"] = bars
        return layout.pack(tables)

    return apply


def runner_for(
    graph: Graph, nodes: list[Node], universes: dict[str, frozenset[str]], wanted: set[str]
) -> KernelRunner:
    """The kernel host for the tables ``wanted``."""
    return KernelRunner(graph, nodes, universes, per_bar=bool(wanted & {"equity", "positions"}))


def count_symbols(universes: Mapping[str, frozenset[str]]) -> int:
    """How many symbols the strategies trade (at least one)."""
    found: set[str] = set()
    for symbols in universes.values():
        found |= symbols
    return max(1, len(found))


def sim_tables(output: SimOutput, wanted: set[str]) -> dict[str, pa.Table]:
    """The ``wanted`` tables of a simulation, each in (strategy, symbol) order."""
    tables = output.lazy_tables()
    return {name: tables[name] for name in tables if name in wanted}


def explode(frame: DataFrame, blocks: tuple[Block, ...]) -> DataFrame:
    """Every row once per block: (block, symbol, ts) and the block's inputs in slots
    ``_s0..``: blocks read different columns, and one schema must hold them all."""
    width = max(len(b.inputs) for b in blocks)
    structs = []
    for i, block in enumerate(blocks):
        slots = [F.col(f"`{c}`").cast("double") for c in block.inputs]
        slots += [F.lit(None).cast("double")] * (width - len(slots))
        structs.append(
            F.struct(
                F.lit(i).cast("long").alias(BLOCK),
                *[col.alias(f"_s{j}") for j, col in enumerate(slots)],
            )
        )
    rows = frame.select("symbol", "ts", F.explode(F.array(*structs)).alias("_row"))
    return rows.select("symbol", "ts", "_row.*")


def block_fn(
    graph: Graph,
    blocks: list[tuple[list[Node], list[str], list[str]]],
    universes: dict[str, frozenset[str]],
    layout: Layout,
    with_bars: bool,
    wanted: set[str],
    classes: bytes | None = None,
) -> Callable[[pa.Table], pa.Table]:
    """The function of a (block, symbol) group, or of a block of portfolios: the block's
    kernels and strategies (``classes``: the event-style strategy classes they build)."""
    width = max(len(outputs) for _, _, outputs in blocks)

    def apply(table: pa.Table) -> pa.Table:
        unpack_classes(classes)
        block = int(table.column(BLOCK)[0].as_py())
        nodes, inputs, outputs = blocks[block]
        cols = {"symbol": table.column("symbol"), "ts": table.column("ts")}
        cols.update({name: table.column(f"_s{j}") for j, name in enumerate(inputs)})
        runner = runner_for(graph, nodes, universes, wanted)
        bars = runner.feed(pa.table(cols).sort_by([(k, "ascending") for k in ORDER]))
        tables = sim_tables(runner.finish(), wanted)
        if with_bars:
            n = bars.num_rows
            part = {
                "symbol": bars.column("symbol"),
                "ts": bars.column("ts"),
                BLOCK: pa.repeat(pa.scalar(block, pa.int64()), n),
            }
            for j in range(width):
                part[f"_p{j}"] = (
                    bars.column(outputs[j]) if j < len(outputs) else pa.nulls(n, pa.float64())
                )
            tables["bars"] = pa.table(part)
        return layout.pack(tables, group=block)

    return apply


def attach_block_columns(
    table: pa.Table, bars_part: pa.Table, outputs: list[tuple[str, ...]]
) -> pa.Table:
    """``table`` (the frame, ordered by symbol and ts) with the columns the blocks' kernels
    added, read from the records' bars part (ordered by symbol, ts and block)."""
    import pyarrow.compute as pc

    block = bars_part.column(BLOCK)
    for i, names in enumerate(outputs):
        if not names:
            continue
        rows = bars_part.filter(pc.equal(block, i))
        if rows.num_rows != table.num_rows or not (
            rows.column("symbol").equals(table.column("symbol"))
            and rows.column("ts").cast(pa.int64()).equals(table.column("ts").cast(pa.int64()))
        ):
            raise BackendError(
                f"spark: the rows of block {i} do not line up with the frame's "
                f"({rows.num_rows} against {table.num_rows}); this is a bug in streambt"
            )
        for j, name in enumerate(names):
            table = table.append_column(name, rows.column(f"_p{j}"))
    return table


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

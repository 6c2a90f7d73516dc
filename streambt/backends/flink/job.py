"""One plan as one Flink job: source -> Relational (SQL) / Scan + Simulate (keyed Python) -> sinks.

The job is built on the process's shared environment (:mod:`.environment`):

1. source: CSV lines (:mod:`.sources`; a replay's come from a rate-limited
   JVM source) -> ``ParseBars`` (rejected and late bars to their sinks) ->
   event time + watermarks (``watermark_delay``), at parallelism 1, so lines
   keep their order;
2. each Relational stage: ``from_data_stream`` (``ts`` the rowtime attribute,
   ``SOURCE_WATERMARK()``), a temporary view, the IbisLowering's expression on
   ``ibis.flink.connect(tenv)`` with one window spec per projection
   (:mod:`.layering`), no ORDER BY, back with ``to_data_stream``;
3. each run of Scan/Simulate stages: ``key_by(symbol)`` and one
   :class:`~.operators.KernelHostFunction`;
4. sinks: factors, equity, orders, fills, trades, plus late, rejected and
   (optionally) latency, as CSV part files; ``print_sinks`` also prints some.

A streaming plan without a Relational stage (every node a kernel) is built as
the bundled pipeline instead: chunks of CSV lines -> one
:class:`~.bundled.BundledPipeline` (ingest and kernels) -> the same sinks.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from ...compile.plan import ALIGN, RELATIONAL, RESAMPLE, Plan
from ...errors import BackendError
from ...graph import Node
from ...ops.base import OpKind
from ..base import plan_bars
from ..local import kernel_runs
from . import operators as fo
from . import sinks
from .environment import FlinkEnv
from .layering import lower_stage_layered
from .sources import Source

if TYPE_CHECKING:
    from ...cerebro import Cerebro
    from ...compile.lowering import IbisLowering

_RUNS = [0]


@dataclass
class Built:
    """What a built job needs at the end: where its sinks are and what they hold."""

    out: Path
    factor_columns: list[str]
    views: list[str] = field(default_factory=list)
    universes: dict[str, frozenset[str] | None] = field(default_factory=dict)
    bars: int = 0
    #: bars per second of a replay source
    replay_rate: float | None = None


class FlinkJob:
    """Builds one plan's job on ``fenv`` and reads its sinks back."""

    def __init__(
        self,
        fenv: FlinkEnv,
        lowering: IbisLowering,
        cerebro: Cerebro,
        plan: Plan,
        source: Source,
        out: Path | None,
        watermark_delay_ms: int,
        print_sinks: tuple[str, ...] = (),
        latency: bool = False,
        bundle_ms: int = 20,
        release_ms: int = 50,
    ) -> None:
        unsupported = [s.kind for s in plan.stages if s.kind in (RESAMPLE, ALIGN)]
        if unsupported:
            raise BackendError(
                f"flink backend: {unsupported[0]} stages (cb.resample / higher-timeframe inputs) "
                "are not supported yet; run this graph on duckdb or polars"
            )
        self.fenv = fenv
        self.lowering = lowering
        self.cerebro = cerebro
        self.plan = plan
        self.source = source
        self.own_out = out is None
        self.out = Path(tempfile.mkdtemp(prefix="streambt-flink-")) if out is None else Path(out)
        self.delay_ms = watermark_delay_ms
        self.print_sinks = print_sinks
        self.latency = latency
        self.bundle_ms = bundle_ms
        self.release_ms = release_ms
        _RUNS[0] += 1
        self.run_id = f"sbt{_RUNS[0]}_{int(time.time() * 1000) % 10**8}"

    @property
    def bundled(self) -> bool:
        """Whether the job moves bars in per-symbol bundles (a streaming plan with no SQL stage)."""
        return self.plan.mode == "stream" and not self.plan.stages_of(RELATIONAL)

    # -- building -------------------------------------------------------------
    def build(self) -> Built:
        for name in (*sinks.TABLES, "late", "rejected", "latency"):
            shutil.rmtree(self.out / name, ignore_errors=True)
        if self.bundled:
            return self._build_bundled()
        env = self.fenv.env
        columns, stream, built = self._source(env)
        current: Any = stream  # a DataStream, or an Ibis expression not yet run
        for group in kernel_runs(self.plan):
            stage = group[0]
            if stage.kind == RELATIONAL:
                if not _is_expr(current):
                    current = self._to_table(current, columns, built)
                current = lower_stage_layered(
                    self.lowering, current, stage.nodes, self.cerebro.graph
                )
                columns = list(current.columns)
            else:
                if _is_expr(current):
                    current = self._to_stream(current)
                nodes = [n for s in group for n in s.nodes]
                current, columns = self._host(current, columns, nodes, built, stage.key)
        if _is_expr(current):
            current = self._to_stream(current)
        built.factor_columns = [c for c in columns if c != fo.EMITTED]
        factors = current.map(fo.FactorLine(columns), output_type=_string())
        self._sink(factors, "factors", built, built.factor_columns)
        return built

    def _build_bundled(self) -> Built:
        """Chunks of lines -> BundledPipeline (ingest and kernels in one operator) -> sinks
        (see :mod:`.bundled`)."""
        from pyflink.common import Duration, Types, WatermarkStrategy
        from pyflink.datastream.connectors.file_system import FileSource, StreamFormat

        from . import bundled as bd

        env = self.fenv.env
        src = self.source
        built = Built(self.out, [])
        extra: list[str] = []
        if src.from_feeds:
            bars, universes = plan_bars(self.cerebro, self.plan)
            extra = [c for c in bars.column_names if c not in ("symbol", "ts", *fo.BAR_FIELDS)]
            lines: list[str] | None = bars_csv(bars).decode().split("\n")[:-1]
            built.universes = dict(universes)
            built.bars = bars.num_rows
        else:
            assert src.path is not None
            built.universes = {n.id: None for n in self.cerebro.graph.of_kind(OpKind.SOURCE)}
            lines = None if src.monitor_ms is not None else read_lines(Path(src.path))
        if lines is None:  # a watched folder: one record per line
            assert src.path is not None and src.monitor_ms is not None
            builder = FileSource.for_record_stream_format(
                StreamFormat.text_line_format(), src.path
            ).monitor_continuously(Duration.of_millis(max(src.monitor_ms, 1)))
            records = env.from_source(builder.build(), WatermarkStrategy.no_watermarks(), "bars")
        else:
            if not lines:
                raise BackendError(f"flink backend: no bars in {src.describe()}")
            rate = None
            if src.paced:
                rate = src.rate or speed_rate(lines, len(extra), src.speed or 1.0)
                built.replay_rate = rate
            size = chunk_size(rate, self.bundle_ms)
            path = self.out / "source" / "chunks.txt"
            write_chunks(lines, size, path)
            if rate is not None:
                records = self._replay_chunks(env, path, rate / size)
            else:
                builder = FileSource.for_record_stream_format(
                    StreamFormat.text_line_format(), str(path)
                )
                records = env.from_source(
                    builder.build(), WatermarkStrategy.no_watermarks(), "bars"
                )
        records = records.set_parallelism(1)
        columns = ["symbol", "ts", *fo.BAR_FIELDS, *extra]
        groups = [g for g in kernel_runs(self.plan) if g[0].kind != RELATIONAL]
        nodes = [n for g in groups for s in g for n in s.nodes]
        keys = {s.key for g in groups for s in g}
        if keys - {"symbol"}:
            raise BackendError(
                f"flink backend: stages keyed by {sorted(keys - {'symbol'})} are not supported; "
                "run this graph on duckdb or polars"
            )
        wiring = fo.KernelWiring.of(self.cerebro.graph, nodes, columns, built.universes)
        pipeline = bd.BundledPipeline(wiring, self.delay_ms, self.release_ms, self.latency)
        # One constant key: the operator sees every bar (it keeps the watermark), and ingest
        # and kernels share one Python worker, so no bar waits between two of them.
        host = (
            records.key_by(lambda _: 0, key_type=Types.INT())
            .process(pipeline, output_type=Types.STRING())
            .set_parallelism(1)
            .name("bundled")
        )
        built.factor_columns = wiring.out_columns
        self._sink(host, "factors", built, built.factor_columns)
        self._sink(host.get_side_output(fo.REJECTED), "rejected", built)
        self._sink(host.get_side_output(fo.LATE), "late", built)
        if wiring.sims:
            for name in ("equity", "orders", "fills", "trades"):
                self._sink(host.get_side_output(fo.EVENT_TAGS[name]), name, built)
            if self.latency:
                self._sink(host.get_side_output(fo.LATENCY), "latency", built)
        return built

    def _replay_chunks(self, env: Any, path: Path, per_second: float) -> Any:
        """The records of ``path`` emitted at ``per_second`` by a rate-limited Java source."""
        from pyflink.common import Types, WatermarkStrategy
        from pyflink.datastream.connectors.base import Source as JavaSource
        from pyflink.java_gateway import get_gateway

        gateway = get_gateway()
        jvm = gateway.jvm
        lines = jvm.java.nio.file.Files.readAllLines(
            jvm.java.nio.file.Paths.get(str(path), gateway.new_array(jvm.String, 0))
        )
        string = Types.STRING().get_java_type_info()
        datagen = jvm.org.apache.flink.connector.datagen
        generator = datagen.functions.FromElementsGeneratorFunction(
            string, env._j_stream_execution_environment.getConfig(), lines
        )
        limiter = jvm.org.apache.flink.api.connector.source.util.ratelimit.RateLimiterStrategy
        source = datagen.source.DataGeneratorSource(
            generator, int(lines.size()), limiter.perSecond(float(per_second)), string
        )
        return env.from_source(JavaSource(source), WatermarkStrategy.no_watermarks(), "replay")

    def _source(self, env: Any) -> tuple[list[str], Any, Built]:
        from pyflink.common import Duration, WatermarkStrategy
        from pyflink.datastream.connectors.file_system import FileSource, StreamFormat

        src = self.source
        built = Built(self.out, [])
        extra: list[str] = []
        if src.from_feeds:
            bars, universes = plan_bars(self.cerebro, self.plan)
            extra = [c for c in bars.column_names if c not in ("symbol", "ts", *fo.BAR_FIELDS)]
            path = self.out / "source" / "bars.csv"
            write_bars(bars, path)
            built.universes = dict(universes)
            built.bars = bars.num_rows
        else:
            assert src.path is not None
            path = Path(src.path)
            built.universes = {n.id: None for n in self.cerebro.graph.of_kind(OpKind.SOURCE)}
            if src.monitor_ms is None and not src.paced and path.is_dir():
                # Flink's FileSource reads a folder's files in no set order: the bars would
                # arrive out of order. One file of them, in name order (as a replay reads them).
                path = self.out / "source" / "bars.csv"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text("\n".join(read_lines(Path(src.path))) + "\n")
        if src.paced:
            lines = self._replay(env, path, built)
        else:
            builder = FileSource.for_record_stream_format(
                StreamFormat.text_line_format(), str(path)
            )
            if src.monitor_ms is not None:
                builder = builder.monitor_continuously(Duration.of_millis(max(src.monitor_ms, 1)))
            lines = env.from_source(builder.build(), WatermarkStrategy.no_watermarks(), "bars")
        lines = lines.set_parallelism(1)
        columns = ["symbol", "ts", *fo.BAR_FIELDS, *extra, fo.EMITTED]
        row_type = fo.type_info(columns)
        # Batch sorts every key's rows and has no watermark: nothing is late there.
        delay = None if self.plan.mode == "batch" else self.delay_ms
        parsed = lines.process(fo.ParseBars(len(extra), delay), output_type=row_type)
        parsed = parsed.set_parallelism(1)
        self._sink(parsed.get_side_output(fo.REJECTED), "rejected", built)
        self._sink(parsed.get_side_output(fo.LATE), "late", built)
        strategy = WatermarkStrategy.for_bounded_out_of_orderness(
            Duration.of_millis(self.delay_ms)
        ).with_timestamp_assigner(fo.BarTime())
        timed = parsed.assign_timestamps_and_watermarks(strategy).set_parallelism(1)
        return columns, timed, built

    def _replay(self, env: Any, path: Path, built: Built) -> Any:
        """The lines of ``path`` emitted at the replay's pace by a rate-limited Java source.

        Pacing must happen in the JVM: a Python operator's output leaves its
        worker a bundle at a time, so a sleeping Python map releases its bars in
        bursts. Flink's DataGeneratorSource with a rate limiter emits the lines
        (read by the JVM, checkpointed by position) one by one.
        """
        from pyflink.common import Types, WatermarkStrategy
        from pyflink.datastream.connectors.base import Source as JavaSource
        from pyflink.java_gateway import get_gateway

        gateway = get_gateway()
        jvm = gateway.jvm
        files = (
            sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith((".", "_")))
            if path.is_dir()
            else [path]
        )
        lines = jvm.java.util.ArrayList()
        for f in files:
            lines.addAll(
                jvm.java.nio.file.Files.readAllLines(
                    jvm.java.nio.file.Paths.get(str(f), gateway.new_array(jvm.String, 0))
                )
            )
        n = int(lines.size())
        if n == 0:
            raise BackendError(f"flink replay: no lines in {path}")
        rate = self.source.rate or self._speed_rate(files, n)
        string = Types.STRING().get_java_type_info()
        datagen = jvm.org.apache.flink.connector.datagen
        generator = datagen.functions.FromElementsGeneratorFunction(
            string, env._j_stream_execution_environment.getConfig(), lines
        )
        limiter = jvm.org.apache.flink.api.connector.source.util.ratelimit.RateLimiterStrategy
        source = datagen.source.DataGeneratorSource(
            generator, n, limiter.perSecond(float(rate)), string
        )
        built.replay_rate = float(rate)
        return env.from_source(JavaSource(source), WatermarkStrategy.no_watermarks(), "replay")

    def _speed_rate(self, files: list[Path], n: int) -> float:
        """Bars per second that play the event-time span ``speed`` times faster than real time."""
        assert self.source.speed is not None
        stamps = []
        for f in files:
            for line in f.read_text().splitlines():
                got = fo.parse_bar(line, 0, max(0, len(line.split(",")) - 7))
                if got is not None and not isinstance(got, str):
                    stamps.append(fo.to_us(got[1]))
        span_s = (max(stamps) - min(stamps)) / 1e6 if stamps else 0.0
        return max(n * self.source.speed / span_s, 1e-3) if span_s > 0 else float(n)

    def _to_table(self, stream: Any, columns: list[str], built: Built) -> Any:
        from pyflink.table import DataTypes, Schema

        kinds = {
            "string": DataTypes.STRING(),
            "timestamp": DataTypes.TIMESTAMP(3).bridged_to("java.sql.Timestamp"),
            "long": DataTypes.BIGINT(),
            "double": DataTypes.DOUBLE(),
        }
        schema = Schema.new_builder()
        for c in columns:
            schema = schema.column(c, kinds[fo.kind_of(c)])
        schema = schema.watermark("ts", "SOURCE_WATERMARK()")
        table = self.fenv.tenv.from_data_stream(stream, schema.build())
        name = f"{self.run_id}_v{len(built.views)}"
        self.fenv.tenv.create_temporary_view(name, table)
        built.views.append(name)
        return self.fenv.con.table(name)

    def _to_stream(self, expr: Any) -> Any:
        # Flink streaming rejects a trailing ORDER BY; the lowering adds none.
        table = self.fenv.tenv.sql_query(self.fenv.con.compile(expr))
        return self.fenv.tenv.to_data_stream(table)

    def _host(
        self, stream: Any, columns: list[str], nodes: list[Node], built: Built, key: str
    ) -> tuple[Any, list[str]]:
        wiring = fo.KernelWiring.of(self.cerebro.graph, nodes, columns, built.universes)
        new_columns = wiring.out_columns
        host = fo.KernelHostFunction(wiring, self.plan.mode == "batch", self.latency)
        k = columns.index(key)
        out = stream.key_by(lambda r: r[k], key_type=_string()).process(
            host, output_type=fo.type_info(new_columns)
        )
        self._sink(out.get_side_output(fo.LATE), "late", built)
        self._sink(out.get_side_output(fo.REJECTED), "rejected", built)
        if wiring.sims:
            for name in ("equity", "orders", "fills", "trades"):
                self._sink(out.get_side_output(fo.EVENT_TAGS[name]), name, built)
            if self.latency:
                self._sink(out.get_side_output(fo.LATENCY), "latency", built)
        return out, new_columns

    def _sink(self, stream: Any, name: str, built: Built, columns: list[str] | None = None) -> None:
        path = self.out / name
        if not (path / "_header.csv").exists():
            sinks.write_header(path, sinks.schema_of(name, columns))
        stream.sink_to(sinks.file_sink(path)).name(f"sink-{name}")
        if name in self.print_sinks:
            stream.print(name)

    # -- reading back ---------------------------------------------------------
    def cleanup(self, built: Built) -> None:
        for view in built.views:
            self.fenv.tenv.drop_temporary_view(view)
        if self.own_out:
            shutil.rmtree(self.out, ignore_errors=True)


def _is_expr(value: Any) -> bool:
    import ibis.expr.types as ir

    return isinstance(value, ir.Table)


def _string() -> Any:
    from pyflink.common import Types

    return Types.STRING()


#: bars per chunk record of a bounded source (the bundled pipeline)
CHUNK_LINES = 4096
#: most bars per chunk record of a replay
MAX_CHUNK_LINES = 32_768
#: longest wall time between two chunks of a replay (ms)
REPLAY_CHUNK_MS = 10


def bars_csv(bars: pa.Table) -> bytes:
    """Bars as the job reads them: CSV without a header, in event-time order, ``ts`` as integer
    microseconds."""
    symbols = bars.column("symbol")
    if pc.any(pc.match_substring_regex(symbols, r'[,"\n\r\x1e]')).as_py():
        raise BackendError(
            "flink backend: symbols must not contain commas, quotes, newlines or \\x1e"
        )
    ts = bars.column("ts").cast(pa.int64())
    if bool((ts.to_numpy() % 1000).any()):
        raise BackendError(
            "flink backend: a bar time is finer than a millisecond; Flink's event time counts "
            "milliseconds: round the feed's timestamps to ms"
        )
    table = bars.set_column(bars.column_names.index("ts"), "ts", ts)
    table = table.sort_by([("ts", "ascending"), ("symbol", "ascending")])
    sink = pa.BufferOutputStream()
    pacsv.write_csv(
        table,
        sink,
        write_options=pacsv.WriteOptions(include_header=False, quoting_style="none"),
    )
    return bytes(sink.getvalue())


def write_bars(bars: pa.Table, path: Path) -> None:
    """The job's input file (the per-row pipeline): :func:`bars_csv`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bars_csv(bars))


def read_lines(path: Path) -> list[str]:
    """The lines of a CSV file, or of every file of a folder (names starting ``.``/``_`` skipped)."""
    files = (
        sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith((".", "_")))
        if path.is_dir()
        else [path]
    )
    lines: list[str] = []
    for f in files:
        # as Flink's line reader splits (str.splitlines would split at \x1c-\x1e, \x85, ...)
        text = f.read_text().replace("\r\n", "\n").replace("\r", "\n")
        lines += text.split("\n")
    return lines


def chunk_size(rate: float | None, bundle_ms: int) -> int:
    """Bars per chunk record: a replay sends a chunk about every ``min(bundle_ms, 10 ms)``.

    A bar waits in the ingest for a later bar (the watermark) and the last bars of
    a chunk wait for the next chunk, so chunks stay short; the ingest releases
    bundles every ``release_ms`` whatever the chunks.
    """
    if rate is None:
        return CHUNK_LINES
    every_ms = min(bundle_ms, REPLAY_CHUNK_MS)
    return int(min(max(round(rate * every_ms / 1000), 1), MAX_CHUNK_LINES))


def write_chunks(lines: list[str], size: int, path: Path) -> None:
    """One line per chunk of ``size`` bar lines joined by the record separator."""
    from .bundles import SEP

    for line in lines:
        if SEP in line:
            raise BackendError(f"flink backend: a bar line holds \\x1e: {line[:80]!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as fh:
        for start in range(0, len(lines), size):
            fh.write(SEP.join(lines[start : start + size]))
            fh.write("\n")


def speed_rate(lines: list[str], extra: int, speed: float) -> float:
    """Bars per second that play the lines' event-time span ``speed`` times faster than real time."""
    from .bundles import parse_chunk

    cols, _, _ = parse_chunk(lines, extra, fo.parse_bar)
    stamps = cols["ts"]
    span_s = (int(stamps.max()) - int(stamps.min())) / 1e6 if stamps.size else 0.0
    n = len(lines)
    return max(n * speed / span_s, 1e-3) if span_s > 0 else float(n)

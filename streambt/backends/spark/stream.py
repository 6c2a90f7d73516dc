"""A plan as a Structured Streaming query: one stateful operator per key, Parquet sinks.

Spark streaming has no OVER windows or ``lag`` (ENGINES.md section 4b), so
every node runs inside the per-key stateful operator, together with the
simulator: each micro-batch hands the operator a symbol's new bars, which
feed a :class:`~streambt.backends.stream_frames.FramedStream` (the embedded
stream mode's host: resampled frames, as-of columns, kernels, simulations)
restored from the key's state; the state goes back as bytes, each kernel's
through :func:`~streambt.kernels.dumps_state`. The key is the symbol; a run of
the portfolio broker has one key for all its rows (its portfolios see every
symbol's bars in (ts, symbol) order, micro-batch after micro-batch), and each
portfolio's host (:class:`~streambt.backends.portfolio_host.PortfolioHost`) is
stored beside the kernels' states.

Sources: a directory of Parquet or CSV bar files (``source=``), read as they
arrive, one file per micro-batch; or, by default, a replay of the cerebro's
feeds written as Parquet files in time order (``micro_batch`` bars each, at
``speed`` files per second). Sinks: one Parquet dataset per table under
``sink`` (``table=orders/``, ``fills``, ``trades``, ``equity``, ``bars`` for
the factors, one per higher timeframe, and ``pending``: the orders still
working after each micro-batch, the stream's form of the batch run's
end-of-data orders), partitioned by micro-batch id and written with dynamic
partition overwrite: a micro-batch replayed after a crash rewrites its own
partitions, so nothing is lost or written twice. A portfolio also writes
``pending_equity``: the last timestamp's equity rows, final once the next
micro-batch (or the end) shows no more bars at that time. The Result is read
back from the sinks.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import from_arrow_schema
from pyspark.sql.streaming.state import GroupStateTimeout
from pyspark.sql.types import StructType

from ...errors import BackendError, DataError
from ...graph.frames import BASE
from ...io.feeds import BAR_SCHEMA, FileFeed
from ...io.policy import Policy
from ...io.validation import check_bars
from ...kernels import dumps_state, loads_state
from ...metrics.keys import ALL_SYMBOLS, MetricKeys
from ..event_tables import EQUITY_SCHEMA
from ..kernel_host import SimOutput, key_slices, time_ordered_chunks
from ..portfolio_host import PortfolioHost
from ..stream_frames import FramedStream
from .batch import ORDER, conform, has_portfolio, ordered, sim_schemas, split_records
from .metrics import spark_metrics
from .records import KIND, ORDER_COLUMNS, SEQ, Layout
from .strategies import pack_classes, unpack_classes

if TYPE_CHECKING:
    from ...cerebro import Cerebro
    from ...compile.plan import Plan
    from ...graph import Graph
    from ...result import Result
    from . import SparkBackend

#: a key's calls number its micro-batches; ``_seq`` = call << 32 | row
CALL_SHIFT = 32
PENDING = "pending"
PENDING_EQUITY = "pending_equity"
#: the one key of a portfolio run's stateful operator
PORTFOLIO_KEY = "_portfolio"
#: beside a checkpoint: the symbols of a portfolio over a watched folder
UNIVERSE_FILE = "streambt-symbols.json"
#: the row checks run on each key's rows of a micro-batch (order is checked across batches)
STREAM_POLICY = Policy(timezone="ignore", gaps="ignore")


class Everything(frozenset[str]):
    """The universe of a watched directory: every symbol that arrives."""

    def __contains__(self, item: object) -> bool:
        return True


# -- the per-key state ------------------------------------------------------------------
class KeyHost:
    """One symbol's FramedStream and bookkeeping, to and from the operator's state bytes."""

    def __init__(self, graph: Graph, plan: Plan, universes: Mapping[str, frozenset[str]]) -> None:
        self.host = FramedStream(graph, plan, universes)
        #: each symbol's last bar time (int64 microseconds)
        self.last_ts: dict[str, int] = {}
        self.calls = 0

    @property
    def portfolios(self) -> list[PortfolioHost]:
        """The key's portfolio hosts by name (their ``_group`` in the records: the order of
        their events in the result)."""
        hosts = [p for r in self.host.runners.values() for p in r.portfolios]
        return sorted(hosts, key=lambda p: p.name)

    def dumps(self) -> bytes:
        h = self.host
        blob = {
            "runners": {
                f: {k: dumps_state(s) for k, s in r.states.items()} for f, r in h.runners.items()
            },
            "buckets": {k: dumps_state(s) for k, s in h.buckets.items()},
            "asof": {k: dumps_state(s) for k, s in h.asof.items()},
            "portfolios": [p.dumps() for p in self.portfolios],
            "last_ts": self.last_ts,
            "calls": self.calls,
        }
        return pickle.dumps(blob, protocol=5)

    def loads(self, data: bytes) -> None:
        blob = pickle.loads(data)
        for f, states in blob["runners"].items():
            self.host.runners[f].states = {k: loads_state(s) for k, s in states.items()}
        self.host.buckets = {k: loads_state(s) for k, s in blob["buckets"].items()}
        self.host.asof = {k: loads_state(s) for k, s in blob["asof"].items()}
        for host, saved in zip(self.portfolios, blob["portfolios"], strict=True):
            host.loads(saved)
        self.last_ts, self.calls = blob["last_ts"], blob["calls"]

    def check_order(self, rows: pa.Table, name: str) -> None:
        """Each symbol's new bars (rows ordered by symbol, ts) come after its earlier ones."""
        ts = rows.column("ts").cast(pa.int64()).to_numpy()
        for symbol, start, stop in key_slices(rows.column("symbol")):
            last = self.last_ts.get(symbol)
            if last is not None and ts[start] <= last:
                when = pd.Timestamp(int(ts[start]), unit="us", tz="UTC").isoformat()
                before = pd.Timestamp(int(last), unit="us", tz="UTC").isoformat()
                raise DataError(
                    f"{name}: a bar of {symbol!r} at {when} arrived after its bar at "
                    f"{before}; a stream must bring each symbol's bars in time order (write "
                    "files in time order, one time slice per file)"
                )
            self.last_ts[symbol] = int(ts[stop - 1])

    def pending(self, symbol: str) -> pa.Table:
        """The orders still working now: what ``finish`` would emit if the data ended here."""
        runner = self.host.runners[BASE]
        out = SimOutput()
        for node in runner.sims:
            state = runner.states.get((node.id, symbol))
            if state is not None:
                kernel = runner.kernels[node.id]
                out.add_events(node.param_dict["name"], symbol, kernel.finish(state))  # type: ignore[attr-defined]
        return with_marker(out.tables()["orders"], symbol)


@dataclass(frozen=True)
class Operator:
    """What the per-key function needs (pickled once to the executors)."""

    graph: Graph
    plan: Plan
    universes: Mapping[str, frozenset[str]]
    layout: Layout
    frame_kinds: Mapping[str, str]
    #: the event-style strategy classes of the portfolios, shipped by value
    classes: bytes | None = None

    @cached_property
    def portfolio(self) -> bool:
        """Whether the plan runs the portfolio broker (looked up once per operator, not once
        per micro-batch)."""
        return has_portfolio(self.graph)


def step(op: Operator, key_name: str, blob: bytes | None, rows: pa.Table) -> tuple[bytes, pa.Table]:
    """One micro-batch of one key (a symbol, or a portfolio run's one key): the new state
    and the record rows to emit."""
    unpack_classes(op.classes)
    layout, frame_kinds = op.layout, op.frame_kinds
    key = KeyHost(op.graph, op.plan, op.universes)
    if blob is not None:
        key.loads(blob)
    rows = rows.select(BAR_SCHEMA.names).cast(BAR_SCHEMA).sort_by(ORDER_BY)
    name = "stream" if op.portfolio else f"stream of {key_name!r}"
    check_bars(rows, name, STREAM_POLICY, single_symbol=not op.portfolio)
    key.check_order(rows, name)
    if op.portfolio:
        check_universe(rows, op.universes, name)
    key.calls += 1
    out = key.host.feed(rows)
    tables = dict(key.host.runners[BASE].sim_output.tables())
    tables["bars"] = out
    for frame, kind in frame_kinds.items():
        parts = key.host.frames[frame]
        tables[kind] = pa.concat_tables(parts) if parts else layout.part(kind).empty_table()
    packs = [layout.pack(tables)]
    if op.portfolio:
        for group, host in enumerate(key.portfolios):
            pending = host.pending_tables()
            written = {
                **host.drain(),
                PENDING: with_marker(pending["orders"], ALL_SYMBOLS),
                PENDING_EQUITY: pending["equity"],
            }
            packs.append(layout.pack(written, group=group))
    else:
        packs.append(layout.pack({PENDING: key.pending(key_name)}))
    packed = pa.concat_tables(packs)
    seq = pc.add(packed.column(SEQ), pa.scalar(key.calls << CALL_SHIFT, pa.int64()))
    packed = packed.set_column(packed.schema.get_field_index(SEQ), SEQ, seq)
    return key.dumps(), packed


ORDER_BY = [(k, "ascending") for k in ORDER]


def check_universe(rows: pa.Table, universes: Mapping[str, frozenset[str]], name: str) -> None:
    """A portfolio's stream brings only the symbols it was built for, which it would
    otherwise leave out unseen."""
    known = frozenset().union(*universes.values())
    arrived = set(pc.unique(rows.column("symbol")).to_pylist())
    unknown = sorted(arrived - known)
    if unknown:
        raise DataError(
            f"{name}: bars of {unknown} arrived, but the portfolio holds {sorted(known)} (the "
            "symbols of its feed when the query started); start a new run (a new sink and "
            "checkpoint) with every symbol's files in the folder"
        )


def with_marker(orders: pa.Table, symbol: str) -> pa.Table:
    """``orders`` after one marker row (no order id), so that "no order pending" is seen too."""
    marker: dict[str, list[str | None]] = {n: [None] for n in orders.schema.names}
    marker["symbol"] = [symbol]
    return pa.concat_tables([pa.table(marker, schema=orders.schema), orders])


def _to_pandas(table: pa.Table) -> pd.DataFrame:
    return table.to_pandas(timestamp_as_object=False)


def _from_pandas(frames: Iterator[pd.DataFrame]) -> pa.Table:
    parts = [pa.Table.from_pandas(f, preserve_index=False) for f in frames]
    parts = [p.select(BAR_SCHEMA.names).cast(BAR_SCHEMA) for p in parts if p.num_rows]
    return pa.concat_tables(parts) if parts else BAR_SCHEMA.empty_table()


def pandas_with_state_fn(op: Operator) -> Any:
    """applyInPandasWithState: the state is one ``binary`` column."""

    def apply(
        key: tuple[str], frames: Iterator[pd.DataFrame], state: Any
    ) -> Iterator[pd.DataFrame]:
        blob = bytes(state.get[0]) if state.exists else None
        new, packed = step(op, key[0], blob, _from_pandas(frames))
        state.update((new,))
        yield _to_pandas(packed)

    return apply


def transform_with_state_processor(op: Operator) -> Any:
    """transformWithStateInPandas: a StatefulProcessor with one ValueState."""
    from pyspark.sql.streaming import StatefulProcessor

    class KernelProcessor(StatefulProcessor):
        def init(self, handle: Any) -> None:
            self.state = handle.getValueState("kernels", "state binary")

        def handleInputRows(self, key: Any, rows: Any, timerValues: Any) -> Iterator[pd.DataFrame]:
            blob = bytes(self.state.get()[0]) if self.state.exists() else None
            new, packed = step(op, key[0], blob, _from_pandas(rows))
            self.state.update((new,))
            yield _to_pandas(packed)

        def close(self) -> None:
            pass

    return KernelProcessor()


# -- the query ----------------------------------------------------------------------------
class SparkStream:
    """Runs a stream-mode plan as a Structured Streaming query and reads the Result from its sinks."""

    def __init__(
        self, spark: SparkSession, cerebro: Cerebro, plan: Plan, backend: SparkBackend
    ) -> None:
        if plan.cached:
            # Every indicator is computed as the bars arrive (the replayed or watched files
            # carry bars only): the cached nodes run in the operator like the others.
            from ...compile.plan import build_plan

            plan = build_plan(cerebro.graph, backend, plan.mode)
        self.spark = spark
        self.cerebro = cerebro
        self.plan = plan
        self.opts = backend
        self.graph = cerebro.graph
        self.sink = (
            Path(backend.sink) if backend.sink else Path(tempfile.mkdtemp(prefix="streambt-sink-"))
        )
        self.checkpoint = (
            Path(backend.checkpoint) if backend.checkpoint else self.sink / "_checkpoint"
        )
        self.tables = self.sink / "tables"
        self.portfolio = has_portfolio(self.graph)
        self.schemas = sim_schemas(self.graph)

    def run(self) -> Result:
        owned = self.opts.sink is None
        if self.tables.exists() and not self.checkpoint.exists():
            raise BackendError(
                f"spark stream: {self.sink} holds the tables of an earlier run but no checkpoint "
                f"at {self.checkpoint}; pass that run's checkpoint= to go on, or an empty sink="
            )
        try:
            return self._run()
        finally:
            if owned:
                clear(self.sink)

    def _run(self) -> Result:
        universes, source, writer = self.source()
        layout, frame_kinds = self.layout(universes)
        stream = self.read(source)
        op = Operator(
            self.graph, self.plan, universes, layout, frame_kinds, pack_classes(self.graph)
        )
        out = from_arrow_schema(layout.schema)
        if self.portfolio:
            # A portfolio sees all its symbols: one key for the run.
            grouped = stream.withColumn(PORTFOLIO_KEY, F.lit(ALL_SYMBOLS)).groupBy(PORTFOLIO_KEY)
        else:
            grouped = stream.groupBy("symbol")
        if self.opts.operator == "transform_with_state":
            records = grouped.transformWithStateInPandas(
                statefulProcessor=transform_with_state_processor(op),
                outputStructType=out,
                outputMode="Append",
                timeMode="None",
            )
        else:
            records = grouped.applyInPandasWithState(
                pandas_with_state_fn(op),
                outputStructType=out,
                stateStructType="state binary",
                outputMode="append",
                timeoutConf=GroupStateTimeout.NoTimeout,
            )
        self.execute(records, writer)
        return self.read_back(layout, frame_kinds)

    # -- source ------------------------------------------------------------------
    def source(self) -> tuple[dict[str, frozenset[str]], Path, threading.Thread | None]:
        """The watched folder, the universes, and the replay writer still to run (if any)."""
        feeds = list(self.cerebro._feeds.values())
        watched = self.opts.source
        if watched is None and len(feeds) == 1 and isinstance(feeds[0], FileFeed):
            # A CSV or Parquet feed over a folder: the folder is watched as files arrive.
            watched = feeds[0].path if feeds[0].path.is_dir() else None
        if watched is not None:
            folder = Path(watched)
            if not folder.is_dir():
                raise BackendError(f"spark stream: source {folder} is not a folder of bar files")
            data = [n for n in self.graph.nodes() if n.op.op_name() == "Data"]
            if len(data) != 1:
                raise BackendError(
                    "spark stream: source= feeds one data node; this graph has "
                    f"{len(data)} (declare one cb.add_data(...) for the watched folder)"
                )
            universe: frozenset[str] = Everything()
            if self.portfolio:
                universe = self.portfolio_symbols(folder)
            return {data[0].id: universe}, folder, None
        bars, universes = self.cerebro.load_bars()
        folder = self.sink / "_replay"
        folder.mkdir(parents=True, exist_ok=True)
        chunks = list(time_ordered_chunks(bars, self.opts.micro_batch))
        replay = Replay(folder, chunks, self.opts.speed)
        if self.opts.speed is None:
            replay.run()
            return universes, folder, None
        replay.first()  # the query needs one file to know the schema
        return universes, folder, threading.Thread(target=replay.run, daemon=True)

    def read(self, folder: Path) -> DataFrame:
        reader = self.spark.readStream.option("maxFilesPerTrigger", 1)
        fmt, schema = self.file_schema(folder)
        if fmt == "csv":
            raw = reader.schema(schema).option("header", True).csv(str(folder))
        else:
            raw = reader.schema(schema).parquet(str(folder))
        return stream_bars(raw, self.cerebro)

    def file_schema(self, folder: Path) -> tuple[str, StructType]:
        """The format of the bar files in ``folder`` and their schema (from the first)."""
        files = sorted(
            p for p in folder.iterdir() if p.suffix in (".parquet", ".csv") and p.is_file()
        )
        if not files:
            raise BackendError(f"spark stream: no .parquet or .csv file in {folder} to start from")
        fmt = files[0].suffix[1:]
        if fmt == "csv":
            reader = self.spark.read.option("header", True).option("inferSchema", True)
            return fmt, reader.csv(str(files[0])).schema
        return fmt, self.spark.read.parquet(str(files[0])).schema

    def portfolio_symbols(self, folder: Path) -> frozenset[str]:
        """The symbols a portfolio over a watched folder holds: those of the files there when
        the query first started, kept with its checkpoint (a restart restores a kernel sized
        for them)."""
        saved = self.checkpoint / UNIVERSE_FILE
        if saved.exists():
            return frozenset(json.loads(saved.read_text()))
        symbols = self.symbols_in(folder)
        self.checkpoint.mkdir(parents=True, exist_ok=True)
        saved.write_text(json.dumps(sorted(symbols)))
        return symbols

    def symbols_in(self, folder: Path) -> frozenset[str]:
        """The symbols of the bar files in ``folder`` now."""
        fmt, schema = self.file_schema(folder)
        reader = self.spark.read.schema(schema)
        raw = (
            reader.option("header", True).csv(str(folder))
            if fmt == "csv"
            else reader.parquet(str(folder))
        )
        rows = stream_bars(raw, self.cerebro).select("symbol").distinct().collect()
        return frozenset(str(r[0]) for r in rows)

    def layout(self, universes: Mapping[str, frozenset[str]]) -> tuple[Layout, dict[str, str]]:
        """The record layout, from a dry run of the host on no rows."""
        host = FramedStream(self.graph, self.plan, universes)
        base = host.feed(BAR_SCHEMA.empty_table())
        frame_kinds = {f: f"frame{i}" for i, f in enumerate(host.order)}
        parts: dict[str, pa.Schema] = {"bars": base.schema}
        for frame, kind in frame_kinds.items():
            parts[kind] = host.frames[frame][0].schema
        parts.update(self.schemas)
        parts[PENDING] = self.schemas["orders"]
        if self.portfolio:
            parts[PENDING_EQUITY] = EQUITY_SCHEMA
        return Layout.of(parts), frame_kinds

    # -- running -------------------------------------------------------------------
    def execute(self, records: DataFrame, writer: threading.Thread | None) -> None:
        tables = str(self.tables)
        done = threading.Event()
        batches = [0]
        limit = self.opts.max_batches

        def write(batch: DataFrame, batch_id: int) -> None:
            # Dynamic overwrite: a replayed batch id rewrites exactly its own partitions.
            (
                batch.withColumn("table", F.col(KIND))
                .withColumn("batch", F.lit(batch_id))
                .write.mode("overwrite")
                .option("partitionOverwriteMode", "dynamic")
                .partitionBy("table", "batch")
                .parquet(tables)
            )
            batches[0] += 1
            if limit is not None and batches[0] >= limit:
                done.set()

        sink = records.writeStream.foreachBatch(write).option(
            "checkpointLocation", str(self.checkpoint)
        )
        # A finished replay or a folder as it is: process what is there, then stop.
        # A replay at a speed: keep polling while the writer adds files.
        if writer is None:
            query = sink.trigger(availableNow=True).start()
        else:
            query = sink.trigger(processingTime="0 seconds").start()
        deadline = time.monotonic() + self.opts.timeout
        try:
            if writer is not None:
                writer.start()
            while query.isActive and not done.is_set():
                if writer is not None and not writer.is_alive():
                    query.processAllAvailable()
                    break
                if time.monotonic() > deadline:
                    raise BackendError(
                        f"spark stream: the query did not finish in {self.opts.timeout:.0f} s "
                        "(timeout=); its checkpoint lets a later run go on"
                    )
                query.awaitTermination(1)
        except Exception as exc:
            raise _stream_error(exc) from exc
        finally:
            if query.isActive:
                query.stop()
        failure = query.exception()
        if failure is not None:
            raise _stream_error(failure)

    # -- reading the sinks back ----------------------------------------------------------
    def read_back(self, layout: Layout, frame_kinds: Mapping[str, str]) -> Result:
        from ...result import Result

        parts = self.collect(layout)
        tables = {}
        last = (
            {PENDING: "orders", PENDING_EQUITY: "equity"} if self.portfolio else {PENDING: "orders"}
        )
        # What the last micro-batch left pending is final at the end of the data.
        pending = {name: final_pending(parts[kind], self.portfolio) for kind, name in last.items()}
        for name, schema in self.schemas.items():
            rows = parts[name]
            if name in pending and pending[name].num_rows:
                more = pending[name].select(rows.column_names).cast(rows.schema)
                rows = pa.concat_tables([rows, more])
            tables[name] = ordered(rows, name, schema, self.portfolio)
        drop = list(ORDER_COLUMNS)
        factors = self.cerebro.canonical_factors(
            conform(parts["bars"].sort_by(ORDER_BY).drop_columns(drop), BAR_SCHEMA)
        )
        frames = {}
        for frame, kind in frame_kinds.items():
            table = parts[kind].sort_by(ORDER_BY).drop_columns(drop)
            frames[self.plan.frame_names[frame]] = self.cerebro.canonical_factors(table, frame)
        metrics = self.metrics(tables) if tables["equity"].num_rows else pa.table({})
        return Result(
            factors=factors,
            frames=frames,
            orders=tables["orders"],
            fills=tables["fills"],
            trades=tables["trades"],
            equity=tables["equity"],
            metrics=metrics,
            plan=self.plan,
            positions=tables["positions"],
            order_events=tables.get("order_events"),
        )

    def collect(self, layout: Layout) -> dict[str, pa.Table]:
        empty = {
            kind: pa.table(
                {
                    **{f.name: pa.array([], f.type) for f in s},
                    **{c: pa.array([], pa.int64()) for c in ORDER_COLUMNS},
                }
            )
            for kind, s in layout.parts
        }
        if not self.tables.exists():
            return empty
        got = self.spark.read.parquet(str(self.tables)).drop("table", "batch").toArrow()
        got = got.select(layout.schema.names).cast(layout.schema)
        return split_records(got, layout)

    def metrics(self, tables: Mapping[str, pa.Table]) -> pa.Table:
        """The metrics, in Spark, of the equity and trades read back (the portfolio's last
        equity rows are final only there)."""
        cerebro = self.cerebro
        return spark_metrics(
            self.spark,
            self.spark.createDataFrame(tables["equity"]),
            self.spark.createDataFrame(tables["trades"]),
            MetricKeys.of(self.graph),
            cerebro.cash,
            cerebro.periods_per_year,
        )


def final_pending(rows: pa.Table, portfolio: bool = False) -> pa.Table:
    """What each key's last micro-batch left pending (order markers dropped), ordered last:
    the orders still working, or a portfolio's last equity rows. A symbol is a key; a
    portfolio run has one key."""
    if rows.num_rows == 0:
        return rows
    calls = pc.shift_right(rows.column(SEQ), CALL_SHIFT).to_numpy()
    if portfolio:
        keep = calls == calls.max()
    else:
        symbols = rows.column("symbol").to_pylist()
        last: dict[str, int] = {}
        for s, c in zip(symbols, calls, strict=True):
            last[s] = max(last.get(s, 0), int(c))
        keep = np.array([c == last[s] for s, c in zip(symbols, calls, strict=True)])
    if "order_id" in rows.column_names:
        keep &= rows.column("order_id").is_valid().to_numpy(zero_copy_only=False)
    out = rows.filter(pa.array(keep))
    # After every event of the run: finish() comes at the end of the data.
    late = pa.array(np.full(out.num_rows, np.iinfo(np.int64).max - 1), pa.int64())
    return out.set_column(out.schema.get_field_index(SEQ), SEQ, late)


def stream_bars(raw: DataFrame, cerebro: Cerebro) -> DataFrame:
    """A raw file stream as BAR_SCHEMA columns (names matched case-insensitively)."""
    from ...io.schema import DEFAULT_SYMBOL, TS_ALIASES

    by_lower: dict[str, str] = {}
    for c in raw.columns:
        by_lower.setdefault(c.lower(), c)
    ts_name = next((by_lower[a] for a in TS_ALIASES if a in by_lower), None)
    missing = [f for f in ("open", "high", "low", "close", "volume") if f not in by_lower]
    if ts_name is None or missing:
        raise DataError(
            f"spark stream: the files need a time column ({', '.join(TS_ALIASES)}) and open, high, "
            f"low, close, volume; got columns {raw.columns}"
        )
    feeds = list(cerebro._feeds.values())
    symbol = feeds[0].symbol if len(feeds) == 1 else None
    sym = (
        F.col(f"`{by_lower['symbol']}`").cast("string")
        if "symbol" in by_lower
        else F.lit(symbol or DEFAULT_SYMBOL)
    )
    return raw.select(
        sym.alias("symbol"),
        F.col(f"`{ts_name}`").cast("timestamp").alias("ts"),
        *[
            F.col(f"`{by_lower[f]}`").cast("double").alias(f)
            for f in ("open", "high", "low", "close", "volume")
        ],
    )


class Replay:
    """Writes a dataset's time-ordered chunks as Parquet files, one per micro-batch."""

    def __init__(self, folder: Path, chunks: list[pa.Table], speed: float | None) -> None:
        self.folder = folder
        self.chunks = chunks
        self.speed = speed
        self.base = time.time() - len(chunks) - 10

    def path(self, i: int) -> Path:
        return self.folder / f"part-{i:06d}.parquet"

    def write(self, i: int) -> None:
        target = self.path(i)
        if target.exists():  # a restart: the file was written (and maybe read) before
            return
        tmp = self.folder / f".part-{i:06d}.tmp"
        pq.write_table(self.chunks[i], tmp)
        if self.speed is None:
            # The file source takes the oldest file first: the mtime is the replay order.
            os.utime(tmp, (self.base + i, self.base + i))
        os.replace(tmp, target)

    def first(self) -> None:
        self.write(0)

    def run(self) -> None:
        for i in range(len(self.chunks)):
            self.write(i)
            if self.speed is not None:
                time.sleep(1.0 / self.speed)


def _stream_error(exc: BaseException) -> Exception:
    """A failed query as the streambt error that caused it, when there is one."""
    text = str(exc)
    found = re.search(r"streambt\.errors\.(\w+Error): (.*?)(?:\n|$)", text)
    if found:
        from ... import errors

        cls = getattr(errors, found.group(1), DataError)
        return cls(found.group(2))
    if isinstance(exc, BackendError | DataError):
        return exc
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return BackendError(f"spark stream: the query failed: {first}")


def clear(path: Path) -> None:
    """Remove a sink or checkpoint folder (a fresh run)."""
    shutil.rmtree(path, ignore_errors=True)

"""The bundled pipeline's operator: bars move as numpy bundles, not rows, through one function.

When every node of a streaming plan is a kernel (``placement="kernels"``, or a
graph with no windowed SQL), the job is::

    chunks of CSV lines -> BundledPipeline (one constant key, parallelism 1) -> sinks

:class:`BundledPipeline` is one keyed Python operator that does all the work,
so no bar crosses from one Python worker to another (that hop cost 0.6-0.8 s
of bar-to-order latency when ingest and kernels were two operators):

1. **ingest**: it parses a chunk at once (:func:`.bundles.parse_chunk`), sends
   bad lines to ``rejected`` and bars behind the watermark to ``late`` (the
   rule of :class:`.operators.ParseBars`: late when at or before ``max(earlier
   ts) - delay - 1 ms``), and holds the others in ``ValueState`` until that
   watermark passes them;
2. **release**: ``release_ms`` of wall time after the previous release ended
   (a processing-time timer flushes a quiet input), the bars the watermark
   has passed are taken out, ordered by (symbol, ts);
3. **kernels**: per symbol, one call per node over its released bars (Scan),
   then the simulations (Simulate); each sink gets one record per release
   (a block of lines), factors and equity formatted by Arrow's CSV writer.

A release costs about the same for one bar per symbol as for a hundred (the
kernel calls), so the interval is counted from the end of a release: when the
job is busy, releases grow instead of multiplying.

The symbols' kernel states live in a ``MapState`` keyed by *bucket*: a
symbol's bucket is a CRC-32 of its name modulo :data:`BUCKETS`, the same in
every process and run, so a restored checkpoint finds each symbol's state
where it left it. A bucket's states are one :class:`StateBox`, encoded as
packed arrays once per PyFlink bundle rather than once per symbol. A timer at
the end of the input (the final watermark of a bounded source, or of a drained
job) releases everything and closes the simulations.

Everything the operator needs is in Flink state, so a restart from a
checkpoint resumes it exactly (``tests/engines/flink/test_exactly_once.py``).
The cost of one key: the kernels of all symbols run in one Python worker,
whatever the job's parallelism (it still applies to the sinks).
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
from pyflink.common import Types
from pyflink.datastream import KeyedProcessFunction, RuntimeContext
from pyflink.datastream.state import MapStateDescriptor, ValueStateDescriptor

from ...graph import Node
from .bundles import (
    BAR_FIELDS,
    SEP,
    IsoCache,
    float_cells,
    pack_states,
    parse_chunk,
    unpack_states,
)
from .operators import (
    EMITTED,
    END_OF_INPUT,
    EVENT_TAGS,
    LATE,
    LATENCY,
    REJECTED,
    KernelWiring,
    Shipped,
    event_lines,
    parse_bar,
    quote,
)

if TYPE_CHECKING:
    from ...kernels import SimulationKernel

#: a watermark below every bar time
NO_TIME = -(2**62)
#: kernel states are kept per bucket of symbols, this many (fixed: restored state is found
#: by bucket)
BUCKETS = 16
#: the state field of a symbol's blob that holds its next sequence number
SEQ = "_seq"
_CSV = pacsv.WriteOptions(include_header=False, quoting_style="none")
_CSV_QUOTED = pacsv.WriteOptions(include_header=False, quoting_style="needed")

#: equity rows of one symbol: (strategy, symbol, ts, {cash, position, equity}, first seq)
EquityPart = tuple[str, str, np.ndarray, Mapping[str, np.ndarray], int]


def bucket_of(symbol: str) -> int:
    """The state bucket of ``symbol``: CRC-32 of its UTF-8 name modulo :data:`BUCKETS`."""
    return zlib.crc32(symbol.encode()) % BUCKETS


def _take(columns: Mapping[str, np.ndarray], index: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[index] for k, v in columns.items()}


def csv_block(columns: Sequence[tuple[str, pa.Array]], names: Iterable[str] = ()) -> str:
    """Rows as CSV text without a header or a final newline (NaN reads back as null).

    Strings are quoted when any of ``names`` (the distinct strings of the block)
    holds a comma, a quote or a line break, as a sweep cell's strategy name does.
    """
    batch = pa.RecordBatch.from_arrays([c for _, c in columns], names=[n for n, _ in columns])
    sink = pa.BufferOutputStream()
    quoted = any(quote(n) != n for n in names)
    pacsv.write_csv(batch, sink, write_options=_CSV_QUOTED if quoted else _CSV)
    return bytes(sink.getvalue()).decode().rstrip("\n")


class StateBox:
    """The kernel states of a bucket's symbols, live between releases.

    Kept in ``MapState`` as this object: PyFlink holds state writes in its
    cache and encodes them when a bundle ends (or a checkpoint flushes it), so a
    box is pickled once per bundle, not once per symbol and release, and it
    pickles as packed arrays (:func:`.bundles.pack_states`), not as a pickle of
    many small arrays.
    """

    def __init__(self, symbols: dict[str, dict[str, Any]]) -> None:
        self.symbols = symbols

    def __reduce__(self) -> tuple[Any, tuple[bytes]]:
        flat = {
            f"{sym}\0{node}": state
            for sym, states in self.symbols.items()
            for node, state in states.items()
        }
        return _unbox, (pack_states(flat),)


def _unbox(blob: bytes) -> StateBox:
    symbols: dict[str, dict[str, Any]] = {}
    for name, state in unpack_states(blob).items():
        sym, _, node = name.rpartition("\0")
        symbols.setdefault(sym, {})[node] = state
    return StateBox(symbols)


class BundledPipeline(Shipped, KeyedProcessFunction):
    """Chunks of CSV lines -> sink lines: ingest, release, Scan and Simulate in one operator.

    Keyed by one constant (every chunk goes to the same instance, which sees every
    bar and so knows the watermark).

    Parameters
    ----------
    wiring : the kernels and their columns (:class:`~.operators.KernelWiring`); its
        columns are the bar columns, in order (``symbol``, ``ts``, the bar fields,
        factor-cache columns), also the first columns of the factors sink
    delay_ms : the watermark delay (how far out of order bars may arrive)
    release_ms : shortest wall time between two releases (bigger bundles, more latency)
    latency : also write a latency row per order and fill
    """

    def __init__(
        self, wiring: KernelWiring, delay_ms: int, release_ms: int, latency: bool = False
    ) -> None:
        self.wiring = wiring
        self.columns = [c for c in wiring.columns if c != EMITTED]
        self.extra = self.columns[2 + len(BAR_FIELDS) :]
        self.delay_ms = delay_ms
        self.release_ms = release_ms
        self.latency = latency

    def open(self, ctx: RuntimeContext) -> None:
        self.kernels = self.wiring.kernels()
        self.ingest = ctx.get_state(ValueStateDescriptor("ingest", Types.PICKLED_BYTE_ARRAY()))
        self.boxes = ctx.get_map_state(
            MapStateDescriptor("kernels", Types.INT(), Types.PICKLED_BYTE_ARRAY())
        )
        self.rejected = ctx.get_metrics_group().counter("rejected_bars")
        self.late = ctx.get_metrics_group().counter("late_bars")
        self.iso = IsoCache()
        self.buckets: dict[str, int] = {}
        self.float_columns = self.columns[2:]
        self.sim_params = {
            n.id: (n.param_dict["name"], n.param_dict.get("start")) for n in self.wiring.sims
        }
        self.sim_universes = {
            n.id: self.wiring.universes.get(
                next(k.node_id for role, k in n.inputs if role in n.op.data_fields)
            )
            for n in self.wiring.sims
        }
        self.float_columns += [
            c for n in self.wiring.nodes for c in self.wiring.outputs[n.id].values()
        ]

    # -- Flink's entry points ---------------------------------------------------------------
    def process_element(self, value: str, ctx: Any) -> Iterator[Any]:
        now_us = time.time_ns() // 1000
        # On every record, not once: a checkpoint may hold the state of a first record
        # without the timer it registered (measured: the end-of-input release lost after a
        # restart). Flink keeps one timer per key and time, so this costs nothing more.
        ctx.timer_service().register_event_time_timer(END_OF_INPUT)
        st = self._load()
        yield from self._take_in(value, st, now_us)
        if now_us // 1000 - st["released_ms"] >= self.release_ms:
            yield from self._release(st, self._watermark(st))
        elif st["timer"] is None and st["held"] is not None:
            st["timer"] = st["released_ms"] + self.release_ms
            ctx.timer_service().register_processing_time_timer(st["timer"])
        self.ingest.update(st)

    def on_timer(self, timestamp: int, ctx: Any) -> Iterator[Any]:
        st = self._load()
        if timestamp == END_OF_INPUT:
            yield from self._release(st, END_OF_INPUT)
            yield from self._finish()
        else:
            st["timer"] = None
            yield from self._release(st, self._watermark(st))
        self.ingest.update(st)

    # -- ingest -----------------------------------------------------------------------------
    def _load(self) -> dict[str, Any]:
        st = self.ingest.value()
        if st is None:
            st = {"latest": None, "held": None, "released_ms": 0, "timer": None}
        return cast("dict[str, Any]", st)

    def _take_in(self, chunk: str, st: dict[str, Any], now_us: int) -> Iterator[Any]:
        """Parse a chunk: bad lines to ``rejected``, late bars to ``late``, the rest held."""
        cols, _, rejected = parse_chunk(chunk.split(SEP), len(self.extra), parse_bar)
        if rejected:
            self.rejected.inc(len(rejected))
            yield REJECTED, "\n".join(rejected)
        if not cols["ts"].size:
            return
        for k, name in enumerate(self.extra):
            cols[name] = cols.pop(f"x{k}")
        ts_ms = cols["ts"] // 1000
        latest = NO_TIME if st["latest"] is None else st["latest"]
        before = np.maximum.accumulate(np.concatenate(([latest], ts_ms)))
        late = ts_ms <= before[:-1] - self.delay_ms - 1
        st["latest"] = int(before[-1])
        if late.any():
            self.late.inc(int(late.sum()))
            yield LATE, self._lines(_take(cols, np.flatnonzero(late)))
            cols = _take(cols, np.flatnonzero(~late))
        cols[EMITTED] = np.full(cols["ts"].size, now_us, dtype=np.int64)
        held = st["held"]
        st["held"] = cols if held is None else {k: np.concatenate((held[k], cols[k])) for k in held}

    def _watermark(self, st: Mapping[str, Any]) -> int:
        """The event time (ms) every later bar must be after: max(ts) - delay - 1 ms."""
        return NO_TIME if st["latest"] is None else int(st["latest"]) - self.delay_ms - 1

    def _release(self, st: dict[str, Any], watermark: int) -> Iterator[Any]:
        """Step the held bars at or before ``watermark``; the next release waits ``release_ms``
        from the end of this one."""
        yield from self._step(self._due(st, watermark))
        # From the end, not the start: a release costs about as much for one bar per symbol
        # as for a hundred, so timed from its start, releases slower than release_ms would
        # each take one chunk's bars, and the job would fall ever further behind its input.
        st["released_ms"] = time.time_ns() // 1_000_000

    def _due(self, st: dict[str, Any], watermark: int) -> dict[str, np.ndarray] | None:
        """Take the held bars at or before ``watermark`` out of ``st`` (None: there are none)."""
        held = st["held"]
        if held is None:
            return None
        due = held["ts"] // 1000 <= watermark
        if not due.any():
            return None
        if due.all():
            st["held"] = None
            return cast("dict[str, np.ndarray]", held)
        st["held"] = _take(held, np.flatnonzero(~due))
        return _take(held, np.flatnonzero(due))

    def _lines(self, cols: Mapping[str, np.ndarray]) -> str:
        cells = [list(cols["symbol"]), self.iso(cols["ts"])]
        cells += [float_cells(cols[f]) for f in BAR_FIELDS]
        return "\n".join(map(",".join, zip(*cells, strict=True)))

    # -- kernels ----------------------------------------------------------------------------
    def _box(self, symbol: str, boxes: dict[int, StateBox]) -> StateBox:
        """The state box of ``symbol``'s bucket, read from Flink state once per release."""
        bucket = self.buckets.get(symbol)
        if bucket is None:
            bucket = self.buckets[symbol] = bucket_of(symbol)
        box = boxes.get(bucket)
        if box is None:
            found = self.boxes.get(bucket)
            box = boxes[bucket] = StateBox({}) if found is None else cast("StateBox", found)
        return box

    def _states(self, symbol: str, box: StateBox) -> dict[str, Any]:
        states = box.symbols.get(symbol)
        if states is None:
            states = {i: k.init() for i, k in self.kernels.items()}
            states[SEQ] = {"n": np.zeros(1, np.int64)}
            box.symbols[symbol] = states
        else:
            for i, k in self.kernels.items():  # a node added since the checkpoint starts fresh
                if i not in states:
                    states[i] = k.init()
        return states

    def _step(self, rows: dict[str, np.ndarray] | None) -> Iterator[Any]:
        """Released bars through every symbol's kernels; one record per sink.

        The bars are sorted by (symbol, ts) once, and each node's outputs are written into
        one column for all symbols: per symbol there is only the kernel calls.
        """
        if rows is None:
            return
        symbols, codes = np.unique(rows["symbol"], return_inverse=True)
        # stable: bars of one symbol at one time keep their arrival order (duplicates)
        order = np.lexsort((rows["ts"], codes))
        codes = codes[order]
        bars = {k: v[order] for k, v in rows.items() if k != "symbol"}
        names = symbols.tolist()
        blocks: dict[Any, list[str]] = {}
        ts = bars["ts"]
        dup = np.flatnonzero((ts[1:] == ts[:-1]) & (codes[1:] == codes[:-1])) + 1
        if dup.size:  # the first bar of a symbol at a time is kept, the others rejected
            lines = self._bar_lines(symbols[codes[dup]].tolist(), _take(bars, dup))
            blocks[REJECTED] = [f"duplicate timestamp|{x}" for x in lines]
            keep = np.ones(ts.size, dtype=bool)
            keep[dup] = False
            codes = codes[keep]
            bars = _take(bars, np.flatnonzero(keep))
            ts = bars["ts"]
        bounds = np.searchsorted(codes, np.arange(len(names) + 1)).tolist()
        columns = {c: np.asarray(bars[c], dtype=np.float64) for c in self.columns[2:]}
        for node in self.wiring.nodes:
            for name in self.wiring.outputs[node.id].values():
                columns[name] = np.empty(ts.size, dtype=np.float64)
        emitted = bars.get(EMITTED)
        boxes: dict[int, StateBox] = {}
        equity: list[EquityPart] = []
        for i, symbol in enumerate(names):
            lo, hi = bounds[i], bounds[i + 1]
            states = self._states(symbol, self._box(symbol, boxes))
            arrays = {c: v[lo:hi] for c, v in columns.items()}
            for node in self.wiring.nodes:
                cols = {role: arrays[name] for role, name in self.wiring.inputs[node.id].items()}
                state, out = self.kernels[node.id].step(states[node.id], cols)
                states[node.id] = state
                for o, name in self.wiring.outputs[node.id].items():
                    arrays[name][:] = out[o]
            if self.wiring.sims:
                own_emitted = None if emitted is None else emitted[lo:hi]
                self._simulate(symbol, ts[lo:hi], arrays, states, own_emitted, equity, blocks)
        for bucket, box in boxes.items():
            self.boxes.put(bucket, box)  # encoded once per PyFlink bundle, not per release
        if equity:
            blocks.setdefault(EVENT_TAGS["equity"], []).append(self._equity(equity))
        for tag, lines in blocks.items():
            yield tag, "\n".join(lines)
        yield self._factors(names, codes, ts, columns)

    def _finish(self) -> Iterator[Any]:
        """The end of the input: every simulation's closing events (open orders, last trade)."""
        if not self.wiring.sims:
            return
        blocks: dict[Any, list[str]] = {}
        for bucket in range(BUCKETS):
            box = self.boxes.get(bucket)
            if box is None:
                continue
            for symbol in sorted(box.symbols):
                states = self._states(symbol, box)
                seq = int(states[SEQ]["n"][0])
                for node in self.wiring.sims:
                    if not self._trades(node, symbol):
                        continue
                    kernel = cast("SimulationKernel", self.kernels[node.id])
                    events = kernel.finish(states[node.id])
                    for tag, line in event_lines(node.param_dict["name"], symbol, events, seq):
                        blocks.setdefault(tag, []).append(line)
                        seq += 1
                states[SEQ] = {"n": np.array([seq], np.int64)}
            self.boxes.put(bucket, box)
        for tag, lines in blocks.items():
            yield tag, "\n".join(lines)

    def _trades(self, node: Node, symbol: str) -> bool:
        universe = self.sim_universes[node.id]
        return universe is None or symbol in universe

    def _simulate(
        self,
        symbol: str,
        ts: np.ndarray,
        arrays: Mapping[str, np.ndarray],
        states: dict[str, Any],
        emitted: np.ndarray | None,
        equity: list[EquityPart],
        blocks: dict[Any, list[str]],
    ) -> None:
        """Step the simulations of ``symbol``: equity rows to ``equity``, event lines to ``blocks``."""
        seq = int(states[SEQ]["n"][0])
        for node in self.wiring.sims:
            if not self._trades(node, symbol):
                continue
            name, start = self.sim_params[node.id]
            cols = {"ts": ts, **{r: arrays[c] for r, c in self.wiring.inputs[node.id].items()}}
            # Warm-up bars feed the indicators but decide nothing (as KernelRunner does).
            first = 0 if start is None else int(np.searchsorted(ts, start, side="left"))
            if first:
                cols["signal"] = np.where(np.arange(ts.size) < first, np.nan, cols["signal"])
            kernel = cast("SimulationKernel", self.kernels[node.id])
            state, out, events = kernel.step_events(states[node.id], cols)
            states[node.id] = state
            if ts.size > first:
                equity.append(
                    (name, symbol, ts[first:], {k: v[first:] for k, v in out.items()}, seq)
                )
                seq += ts.size - first
            for tag, line in event_lines(name, symbol, events, seq):
                blocks.setdefault(tag, []).append(line)
                seq += 1
            if self.latency and emitted is not None:
                lines = self._latency(name, symbol, ts, emitted, events)
                if lines:
                    blocks.setdefault(LATENCY, []).extend(lines)
        states[SEQ] = {"n": np.array([seq], np.int64)}

    def _equity(self, parts: list[EquityPart]) -> str:
        sizes = [p[2].size for p in parts]
        strategy = np.repeat(np.array([p[0] for p in parts], dtype=object), sizes)
        symbol = np.repeat(np.array([p[1] for p in parts], dtype=object), sizes)
        seq = np.concatenate([np.arange(p[4], p[4] + p[2].size, dtype=np.int64) for p in parts])
        columns = [
            ("strategy", pa.array(strategy, pa.string())),
            ("symbol", pa.array(symbol, pa.string())),
            ("ts", pa.array(self.iso(np.concatenate([p[2] for p in parts])), pa.string())),
        ]
        for field in ("cash", "position", "equity"):
            values = np.concatenate([np.asarray(p[3][field], dtype=np.float64) for p in parts])
            columns.append((field, pa.array(values)))
        columns.append(("seq", pa.array(seq)))
        return csv_block(columns, {*(p[0] for p in parts), *(p[1] for p in parts)})

    def _factors(
        self, symbols: list[str], codes: np.ndarray, ts: np.ndarray, columns: Mapping[str, Any]
    ) -> str:
        """The factors rows of a release: ``codes`` index ``symbols``, one value per bar."""
        names = pa.array(symbols, pa.string())
        block = [
            ("symbol", names.take(pa.array(codes))),
            # Arrow formats zoned timestamps slowly (a time-zone lookup each): ISO text, cached
            ("ts", pa.array(self.iso(ts), pa.string())),
        ]
        block += [(c, pa.array(columns[c])) for c in self.float_columns]
        return csv_block(block, symbols)

    def _latency(
        self,
        strategy: str,
        symbol: str,
        ts: np.ndarray,
        emitted: np.ndarray,
        events: Mapping[str, Mapping[str, np.ndarray]],
    ) -> list[str]:
        """One row per order and fill: the bar that made it, when that bar entered, and now."""
        now = time.time_ns() // 1000
        lines: list[str] = []
        for table, col in (("orders", "created_ts"), ("fills", "ts")):
            found = (events.get(table) or {}).get(col)
            if found is None or len(found) == 0:
                continue
            head = f"{quote(strategy)},{quote(symbol)}"
            stamps = np.asarray(found, dtype=np.int64)
            at = np.clip(np.searchsorted(ts, stamps, side="right") - 1, 0, ts.size - 1)
            for t, j in zip(stamps.tolist(), at.tolist(), strict=True):
                when, bar = self.iso.one(t), self.iso.one(int(ts[j]))
                lines.append(f"{table},{head},{when},{bar},{int(emitted[j])},{now}")
        return lines

    def _bar_lines(self, symbols: list[str], bars: Mapping[str, np.ndarray]) -> list[str]:
        cells = [symbols, self.iso(bars["ts"])]
        cells += [float_cells(bars[f]) for f in BAR_FIELDS]
        return list(map(",".join, zip(*cells, strict=True)))

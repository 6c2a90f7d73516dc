"""The embedded stream mode with several timeframes: higher-timeframe bars built as they close.

Each micro-batch of base bars first advances every higher timeframe (coarsest
first): its open bucket per symbol takes the new rows, and the buckets that
closed become that frame's new bars, which its kernels consume. Then ``AsOf``
columns are placed on the destination rows (a source bar is visible once its
close is at or before the row's close), and the base kernels and simulations
run. The same rules as the batch path (:mod:`streambt.io.resample`), fed
incrementally, give the same numbers.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyarrow as pa

from ..compile.plan import ALIGN, RELATIONAL, RESAMPLE, SCAN, SIMULATE, Plan
from ..graph import Graph, Node
from ..graph.frames import BASE, frame_of
from ..io.resample import RESAMPLED_SCHEMA, _table, asof_values, bucket_state, close_buckets
from ..io.schema import float_array
from ..io.timeframes import Timeframe
from .kernel_host import KernelRunner, SimOutput, as_float, key_slices

FIELDS = ("open", "high", "low", "close", "volume")


class FramedStream:
    """Feeds base micro-batches through every frame of a plan, keeping all state between feeds."""

    def __init__(self, graph: Graph, plan: Plan, universes: Mapping[str, frozenset[str]]) -> None:
        self.graph = graph
        self.order: list[str] = []  # higher-timeframe frames, coarsest first
        self.roots: dict[str, Node] = {}
        self.aligns: dict[str, list[Node]] = {}
        nodes: dict[str, list[Node]] = {}
        for stage in plan.stages:
            if stage.kind == RESAMPLE:
                self.order.append(stage.frame)
                self.roots[stage.frame] = stage.nodes[0]
            elif stage.kind == ALIGN:
                self.aligns.setdefault(stage.frame, []).extend(stage.nodes)
            elif stage.kind in (SCAN, SIMULATE, RELATIONAL):
                nodes.setdefault(stage.frame, []).extend(stage.nodes)
        self.runners = {
            f: KernelRunner(graph, nodes.get(f, []), universes) for f in [*self.order, BASE]
        }
        self.buckets: dict[tuple[str, str], dict[str, np.ndarray]] = {}
        self.asof: dict[tuple[str, str], dict[str, np.ndarray]] = {}
        self.frames: dict[str, list[pa.Table]] = {f: [] for f in self.order}

    def feed(self, chunk: pa.Table) -> pa.Table:
        """One micro-batch of base bars (ordered by symbol, ts) -> the base rows with their columns."""
        closed: dict[str, pa.Table] = {}
        for frame in self.order:
            bars = self._resample(frame, chunk)
            bars = self._align(frame, bars, closed)
            bars = self.runners[frame].feed(bars)
            closed[frame] = bars
            self.frames[frame].append(bars)
        return self.runners[BASE].feed(self._align(BASE, chunk, closed))

    def finish(self) -> SimOutput:
        return self.runners[BASE].finish()

    def frame_tables(self) -> dict[str, pa.Table]:
        return {
            f: pa.concat_tables(parts).sort_by([("symbol", "ascending"), ("ts", "ascending")])
            for f, parts in self.frames.items()
        }

    def _resample(self, frame: str, chunk: pa.Table) -> pa.Table:
        p = self.roots[frame].param_dict
        tf, base = Timeframe.from_key(p["timeframe"]), Timeframe.from_key(p["base"])
        ts = chunk.column("ts").cast(pa.int64()).to_numpy()
        cols = {f: as_float(chunk.column(f)) for f in FIELDS}
        parts = []
        for sym, s, e in key_slices(chunk.column("symbol")):
            state = self.buckets.setdefault((frame, sym), bucket_state())
            ints, floats, _ = close_buckets(
                state, tf, base.micros, ts[s:e], *(cols[f][s:e] for f in FIELDS)
            )
            if ints.shape[1]:
                parts.append(_table(sym, ints, floats))
        return pa.concat_tables(parts) if parts else RESAMPLED_SCHEMA.empty_table()

    def _align(self, frame: str, rows: pa.Table, closed: Mapping[str, pa.Table]) -> pa.Table:
        from .local import decision_times

        for node in self.aligns.get(frame, []):
            x = dict(node.inputs)["x"]
            source = closed[frame_of(self.graph, self.graph.node(x.node_id))]
            values = as_float(source.column(self.graph.node(x.node_id).column(x.output)))
            closes = source.column("closes_at").cast(pa.int64()).to_numpy()
            src = {sym: (s, e) for sym, s, e in key_slices(source.column("symbol"))}
            decide = decision_times(rows, Timeframe.from_key(node.param_dict["target"]))
            out = np.full(rows.num_rows, np.nan)
            slices = key_slices(rows.column("symbol"))
            for sym, s, e in slices:
                a, b = src.get(sym, (0, 0))
                out[s:e] = self._asof_step(node.id, sym, decide[s:e], closes[a:b], values[a:b])
            # Source bars of symbols with no destination row yet wait in the state.
            for sym in src.keys() - {sym for sym, _, _ in slices}:
                a, b = src[sym]
                self._asof_step(node.id, sym, np.empty(0, np.int64), closes[a:b], values[a:b])
            rows = rows.append_column(node.column("value"), float_array(out))
        return rows

    def _asof_step(
        self, node_id: str, sym: str, decide: np.ndarray, closes: np.ndarray, values: np.ndarray
    ) -> np.ndarray:
        state = self.asof.setdefault(
            (node_id, sym),
            {"last": np.array([np.nan]), "closes": np.empty(0, np.int64), "values": np.empty(0)},
        )
        all_closes = np.concatenate([state["closes"], closes])
        all_values = np.concatenate([state["values"], values])
        out = asof_values(decide, all_closes, all_values, before=float(state["last"][0]))
        if decide.size:
            seen = int(np.searchsorted(all_closes, decide[-1], side="right"))
            if seen:
                state["last"][0] = all_values[seen - 1]
            all_closes, all_values = all_closes[seen:], all_values[seen:]
        state["closes"], state["values"] = all_closes, all_values
        return out

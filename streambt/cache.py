"""The factor cache: indicator columns kept on disk between runs.

A cached column is keyed by the node's id (op, version, inputs, parameters)
and by a fingerprint of every feed and of the streambt version, so a change
to the data, the graph or the library invalidates it. Columns are stored in
the bars' canonical order (symbol, ts), one Parquet file per node, along with
that order's keys so a mismatch is detected rather than served.

Examples
--------
>>> res = cb.run(cache=".streambt-cache")   # doctest: +SKIP
>>> res2 = cb.run(cache=".streambt-cache")  # doctest: +SKIP  (indicators loaded, not recomputed)
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .graph import Node
from .graph.ids import digest
from .io.feeds import Feed


class CacheMiss(Exception):
    """A cached column could not be used; the run retries without it."""

    def __init__(self, node: Node, why: str) -> None:
        super().__init__(why)
        self.node = node


class FactorCache:
    """Indicator columns on disk under ``root/<data key>/<node id>.parquet``."""

    def __init__(self, root: str | os.PathLike[str], feeds: Mapping[str, Feed]) -> None:
        from . import __version__

        self.root = Path(root)
        fingerprints = {node_id: feed.fingerprint() for node_id, feed in sorted(feeds.items())}
        self.data_key = digest({"feeds": fingerprints, "streambt": __version__})[:24]
        self.dir = self.root / self.data_key

    def path(self, node: Node) -> Path:
        return self.dir / f"{node.id}.parquet"

    def available(self, nodes: Iterable[Node]) -> set[str]:
        """Ids of ``nodes`` whose columns are cached for this data."""
        return {n.id for n in nodes if self.path(n).is_file()}

    def load(self, node: Node, bars: pa.Table) -> dict[str, pa.ChunkedArray]:
        """The node's columns aligned with ``bars``; raises :class:`CacheMiss` if the file does not fit."""
        try:
            table = pq.read_table(self.path(node))
        except (OSError, pa.ArrowInvalid) as exc:
            raise CacheMiss(node, f"{self.path(node)} is unreadable ({exc})") from exc
        keys_match = (
            table.num_rows == bars.num_rows
            and table.column("symbol").equals(bars.column("symbol"))
            and pc.all(pc.equal(table.column("ts"), bars.column("ts"))).as_py() is not False
        )
        wanted = [node.column(o) for o in node.op.outputs]
        if not keys_match or not all(c in table.column_names for c in wanted):
            raise CacheMiss(node, f"{self.path(node)} does not match these bars")
        return {c: table.column(c) for c in wanted}

    def discard(self, miss: CacheMiss) -> None:
        """Set a bad file aside (never deleted: it may be evidence) and warn."""
        path = self.path(miss.node)
        if path.exists():
            os.replace(path, path.with_suffix(".bad"))
        warnings.warn(f"factor cache: {miss}; recomputing {miss.node.label}", stacklevel=3)

    def attach(self, bars: pa.Table, nodes: Iterable[Node]) -> pa.Table:
        """``bars`` with the cached columns of ``nodes`` appended."""
        for node in nodes:
            for name, column in self.load(node, bars).items():
                bars = bars.append_column(name, column)
        return bars

    def store(self, nodes: Iterable[Node], factors: pa.Table) -> None:
        """Write each node's columns from a run's factors table (atomically: write, then rename)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        keys = factors.select(["symbol", "ts"])
        for node in nodes:
            target = self.path(node)
            if target.is_file():
                continue
            table = keys
            for o in node.op.outputs:
                table = table.append_column(node.column(o), factors.column(node.column(o)))
            fd, tmp = tempfile.mkstemp(dir=self.dir, suffix=".tmp")
            os.close(fd)
            pq.write_table(table, tmp)
            os.replace(tmp, target)

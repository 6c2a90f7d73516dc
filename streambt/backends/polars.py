"""The Polars engine: native Polars expressions for Relational stages, kernels over Arrow for Scans.

Ibis's Polars backend has no window functions, so Relational stages lower to
Polars expressions (:mod:`streambt.compile.polars`) evaluated lazily; Scan
stages, the stream mode and metrics are shared with DuckDB
(:mod:`streambt.backends.local`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import polars as pl
import pyarrow as pa

from ..compile.polars import PolarsLowering
from ..ops.base import Op, OpKind
from .base import Support
from .local import LocalBackend

if TYPE_CHECKING:
    from ..graph import Graph, Node


class PolarsBackend(LocalBackend):
    """Polars, in process, lazily."""

    name = "polars"
    relational_form = "one lazy Polars query"
    SUPPORT: ClassVar[dict[tuple[str, OpKind], Support]] = {
        ("batch", OpKind.ELEMENTWISE): Support(True, "elementwise: a Polars expression"),
        ("batch", OpKind.WINDOWED): Support(True, "windowed: Polars rolling_*/shift over symbol"),
        ("batch", OpKind.RECURSIVE): Support(
            False, "recursive: no Polars form proven equal to TA-Lib; incremental kernel"
        ),
    }

    def __init__(self, placement: str = "relational", micro_batch: int = 1_000) -> None:
        super().__init__(placement, micro_batch)
        self.lowering = PolarsLowering()

    def lowers(self, op: type[Op]) -> bool:
        return self.lowering.supports(op)

    def frame(self, bars: pa.Table) -> pl.LazyFrame:
        frame = pl.from_arrow(bars)
        assert isinstance(frame, pl.DataFrame)
        return frame.lazy()

    def lower_stage(self, frame: pl.LazyFrame, nodes: list[Node], graph: Graph) -> pl.LazyFrame:
        return self.lowering.lower_stage(frame, nodes, graph)

    def collect(self, frame: pl.LazyFrame) -> pa.Table:
        # The frame keeps the bars' (symbol, ts) order: rolling/shift over a key do not reorder.
        table = frame.collect().to_arrow()
        # Polars hands strings back as large_string: keep the engine-independent schema.
        return table.set_column(0, "symbol", table.column("symbol").cast(pa.string()))

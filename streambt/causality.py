"""The causality check: results on a prefix of the data equal the prefix of the results.

A backtest that looks ahead (an indicator reading the next bar, a higher
timeframe visible before its bar closed) produces values on the full data that
a run stopped at time ``t`` could not have produced. Re-running on prefixes and
comparing finds it, and names the first node (in dependency order) whose
column differs.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .errors import StreambtError
from .ops.base import INDICATOR_KINDS, OpKind

if TYPE_CHECKING:
    from collections.abc import Iterator

    from .cerebro import Cerebro
    from .result import Result


class CausalityError(StreambtError):
    """A graph's results depend on data after the bar they belong to."""


@dataclass
class Leak:
    """One difference between a prefix run and the full run."""

    cut: Any
    what: str
    detail: str


@dataclass
class CausalityReport:
    """What :meth:`Cerebro.check_causality` found."""

    cuts: list[Any]
    findings: list[Leak] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def leaks(self) -> list[str]:
        """The leaking nodes (and tables), first cause first, without repeats."""
        return list(dict.fromkeys(f.what for f in self.findings))

    def raise_if_leaking(self) -> None:
        if self.findings:
            first = self.findings[0]
            raise CausalityError(
                f"look-ahead: {first.what} differs when the data stops at {first.cut} ({first.detail}); "
                "a node reads bars after the one it belongs to. Leaking: " + ", ".join(self.leaks)
            )

    def __repr__(self) -> str:
        status = "ok" if self.ok else f"LEAKS: {', '.join(self.leaks)}"
        return f"CausalityReport({len(self.cuts)} cuts, {status})"


@contextmanager
def _until(cerebro: Cerebro, cut: Any) -> Iterator[None]:
    previous = cerebro._until
    cerebro._until = cut
    try:
        yield
    finally:
        cerebro._until = previous


def check_causality(
    cerebro: Cerebro, samples: int, backend: str, mode: str, **options: Any
) -> CausalityReport:
    full = cerebro.run(backend, mode, **options)
    ts = full.factors.column("ts")
    unique = pc.unique(ts).sort()
    if len(unique) < 2:
        return CausalityReport([])
    # Cuts spread over the second half and the bar before the end: late cuts see
    # every warm-up done and most positions opened.
    picks = np.unique(np.linspace(len(unique) // 2, len(unique) - 2, max(1, samples)).astype(int))
    cuts = [unique[int(i)].as_py() for i in picks]
    # A higher timeframe that leaks shows only on the bar just before its close:
    # cut there too, for each frame.
    ts_us = unique.cast(pa.int64()).to_numpy()
    for frame in full.frames.values():
        closes = np.unique(frame.column("closes_at").cast(pa.int64()).to_numpy())
        closes = closes[closes > ts_us[len(ts_us) // 2]]
        for close in closes[np.linspace(0, len(closes) - 1, min(samples, len(closes))).astype(int)]:
            before = int(np.searchsorted(ts_us, close, side="left")) - 2
            if 0 <= before < len(ts_us) - 1:
                cuts.append(unique[before].as_py())
    cuts = sorted(set(cuts))
    report = CausalityReport(cuts)
    columns = _columns_in_dependency_order(cerebro)
    for cut in cuts:
        with _until(cerebro, cut):
            part = cerebro.run(backend, mode, **options)
        report.findings += _compare(full, part, cut, columns)
    return report


def _columns_in_dependency_order(cerebro: Cerebro) -> list[tuple[str, str]]:
    return [
        (n.column(o), n.label)
        for n in cerebro.graph.of_kind(*INDICATOR_KINDS, OpKind.ALIGN)
        for o in n.op.outputs
    ]


def _prefix(table: pa.Table, column: str, cut: Any) -> pa.Table:
    if table.num_rows == 0:
        return table
    keep = pc.less_equal(table.column(column), pa.scalar(cut, table.schema.field(column).type))
    return table.filter(pc.fill_null(keep, False))


def _compare(full: Result, part: Result, cut: Any, columns: list[tuple[str, str]]) -> list[Leak]:
    found: list[Leak] = []
    want, got = _prefix(full.factors, "ts", cut), part.factors
    for tables in [
        (want, got),
        *((_prefix(full.frames[k], "closes_at", cut), part.frames.get(k)) for k in full.frames),
    ]:
        w, g = tables
        if g is None:
            continue
        for column, label in columns:
            if column in w.column_names:
                detail = _differs(w, g, column)
                if detail:
                    found.append(Leak(cut, label, detail))
    for name, key in (("trades", "exit_ts"), ("fills", "ts"), ("equity", "ts")):
        w, g = _prefix(getattr(full, name), key, cut), _prefix(getattr(part, name), key, cut)
        detail = (
            ""
            if w.num_rows == g.num_rows and w.equals(g)
            else f"{w.num_rows} rows in the full run, {g.num_rows} in the prefix run"
        )
        if detail and w.num_rows == g.num_rows:
            detail = "rows differ"
        if detail:
            found.append(Leak(cut, f"{name} table", detail))
    return found


def _differs(want: pa.Table, got: pa.Table, column: str) -> str:
    if column not in got.column_names or want.num_rows != got.num_rows:
        return f"{want.num_rows} rows in the full run, {got.num_rows} in the prefix run"
    w = np.asarray(want.column(column).to_numpy(zero_copy_only=False), dtype=float)
    g = np.asarray(got.column(column).to_numpy(zero_copy_only=False), dtype=float)
    bad = ~((w == g) | (np.isnan(w) & np.isnan(g)))
    if not bad.any():
        return ""
    i = int(np.flatnonzero(bad)[0])
    ts = want.column("ts")[i].as_py()
    return f"at {ts}: {w[i]!r} with all the data, {g[i]!r} with data up to the cut"

"""Trade statistics per (strategy, symbol) over closed round trips.

A win is ``pnl > 0`` and a loss ``pnl < 0``; a trade with ``pnl == 0``
counts in ``trades`` and ``expectancy`` but is neither.
"""

from __future__ import annotations

import ibis.expr.types as ir

from streambt.metrics.returns import KEYS


def trade_stats(trades: ir.Table) -> ir.Table:
    """One row per (strategy, symbol) that has at least one trade.

    Columns: ``trades``, ``win_rate``, ``avg_win``, ``avg_loss``,
    ``expectancy``, ``profit_factor`` (null when there is no loss; 0 when
    there are losses and no win).
    """
    pnl = trades.pnl.cast("float64")
    win, loss = pnl > 0.0, pnl < 0.0
    agg = trades.group_by(*KEYS).aggregate(
        trades=trades.count(),
        wins=pnl.count(where=win),
        gross_win=pnl.sum(where=win),
        gross_loss=pnl.sum(where=loss),
        avg_win=pnl.mean(where=win),
        avg_loss=pnl.mean(where=loss),
        expectancy=pnl.mean(),
    )
    return agg.select(
        *KEYS,
        "trades",
        win_rate=agg.wins.cast("float64") / agg.trades.cast("float64"),
        avg_win=agg.avg_win,
        avg_loss=agg.avg_loss,
        expectancy=agg.expectancy,
        # gross_loss is null exactly when there is no losing trade.
        profit_factor=agg.gross_win.coalesce(0.0) / agg.gross_loss.abs(),
    )

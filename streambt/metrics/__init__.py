"""Performance metrics as Ibis aggregations over the equity and trade tables.

Every engine computes the metrics with the same expression, so they agree to
the last bits the engines' arithmetic allows. Definitions: ``docs/metrics.md``.
"""

from streambt.metrics.returns import bar_frame
from streambt.metrics.table import (
    METRIC_COLUMNS,
    METRIC_SCHEMA,
    compute_metrics,
    metrics_expr,
    metrics_from_bars,
)

__all__ = [
    "METRIC_COLUMNS",
    "METRIC_SCHEMA",
    "bar_frame",
    "compute_metrics",
    "metrics_expr",
    "metrics_from_bars",
]

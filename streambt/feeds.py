"""Feeds: ``sb.feeds.from_pandas(df, symbol="GOOG")``, ``from_csv``, ``from_parquet``,
``from_arrow``, ``from_polars``, ``from_table``, ``synthetic``.

Every feed takes ``start``/``end``/``warmup`` (the range to trade and the bars
loaded before it), ``policy`` (what to do with bad bars, see :class:`Policy`)
and ``interval`` (the bar interval for the gaps check). docs/data.md has the
details.
"""

from .io.feeds import (
    Feed,
    from_arrow,
    from_csv,
    from_pandas,
    from_parquet,
    from_polars,
    from_table,
    synthetic,
    synthetic_bars,
)
from .io.policy import CHECKS, Policy
from .io.report import DataWarning, ValidationReport

__all__ = [
    "CHECKS",
    "DataWarning",
    "Feed",
    "Policy",
    "ValidationReport",
    "from_arrow",
    "from_csv",
    "from_pandas",
    "from_parquet",
    "from_polars",
    "from_table",
    "synthetic",
    "synthetic_bars",
]

"""Feeds: ``sb.feeds.from_pandas(df, symbol="GOOG")``, ``from_csv``, ``from_parquet``, ``from_arrow``, ``synthetic``."""

from .io.feeds import (
    Feed,
    from_arrow,
    from_csv,
    from_pandas,
    from_parquet,
    synthetic,
    synthetic_bars,
)

__all__ = [
    "Feed",
    "from_arrow",
    "from_csv",
    "from_pandas",
    "from_parquet",
    "synthetic",
    "synthetic_bars",
]

"""Metrics of a Spark run: the one Ibis expression over the equity and trades DataFrames.

The curves are measured from their own starting cash
(:class:`~streambt.metrics.keys.MetricKeys`): the Cerebro's cash for every
(strategy, symbol) account of a plain run; with the portfolio broker, a
strategy's share of its portfolio's cash and the portfolio's whole cash, its
trades counted for the strategy and for the portfolio. One query per starting
cash; the per-bar frame of each is cached, since every metric family reads it.
"""

from __future__ import annotations

from itertools import chain

import ibis
import ibis.expr.types as ir
import pyarrow as pa
from ibis.formats.pyarrow import PyArrowData
from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from ...io.feeds import TS_TYPE
from ...metrics import bar_frame, metrics_from_bars
from ...metrics.keys import ALL_SYMBOLS, MetricKeys
from ..event_tables import EQUITY_SCHEMA


def spark_metrics(
    spark: SparkSession,
    equity: DataFrame,
    trades: DataFrame,
    keys: MetricKeys,
    cash: float,
    periods_per_year: float | None,
) -> pa.Table:
    """The metrics table (sorted by strategy, symbol) of ``equity`` and ``trades``."""
    con = ibis.pyspark.connect(spark)
    views: list[str] = []
    kept: list[DataFrame] = []

    def table(df: DataFrame) -> ir.Table:
        name = f"streambt_metrics_{id(views)}_{len(views)}"
        df.createOrReplaceTempView(name)
        views.append(name)
        return con.table(name)

    equity = equity.select(*EQUITY_SCHEMA.names)
    trades = keyed_trades(trades, keys)
    parts = []
    try:
        for start, names in keys.by_cash(cash):
            curves, closed = equity, trades
            if names is not None:
                curves = equity.filter(F.col("strategy").isin(names))
                closed = trades.filter(F.col("strategy").isin(names))
            bars = spark.sql(con.compile(bar_frame(table(curves), start)))
            bars = bars.persist(StorageLevel.MEMORY_AND_DISK)
            kept.append(bars)
            expr = metrics_from_bars(table(bars), table(closed), start, periods_per_year)
            got = spark.sql(con.compile(expr)).toArrow()
            parts.append(PyArrowData.convert_table(got, expr.schema()))
    finally:
        for name in views:
            spark.catalog.dropTempView(name)
        for df in kept:
            df.unpersist()
    out = pa.concat_tables(parts) if len(parts) > 1 else parts[0]
    # ibis types Spark's TIMESTAMP without a zone; the session's zone is UTC.
    schema = pa.schema(
        [pa.field(f.name, TS_TYPE) if pa.types.is_timestamp(f.type) else f for f in out.schema]
    )
    return out.cast(schema).sort_by([("strategy", "ascending"), ("symbol", "ascending")])


def keyed_trades(trades: DataFrame, keys: MetricKeys) -> DataFrame:
    """``trades`` keyed like the curves they belong to (:meth:`MetricKeys.trades` on Spark)."""
    if not keys.owner:
        return trades
    own = trades.withColumn("symbol", F.lit(ALL_SYMBOLS))
    owner = F.create_map(*[F.lit(x) for x in chain.from_iterable(sorted(keys.owner.items()))])
    return own.unionByName(own.withColumn("strategy", F.element_at(owner, F.col("strategy"))))

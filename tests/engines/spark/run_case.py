"""Run one parity case on a Spark master in a fresh process; write each result table as Parquet.

``python -m tests.engines.spark.run_case MASTER OUT CASE``: a process of its
own, so the test process keeps its local session (one SparkContext each).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pyarrow.parquet as pq

import streambt as sb
from tests.parity.cases import CASES

from .conftest import parity_frame

TABLES = ("factors", "orders", "fills", "trades", "equity", "positions", "metrics")


def main(master: str, out: str, case: str) -> None:
    cb = sb.Cerebro(cash=10_000, commission=0.001)
    CASES[case](cb, parity_frame())
    res = cb.run(backend="spark", master=master)
    Path(out).mkdir(parents=True, exist_ok=True)
    for name in TABLES:
        pq.write_table(getattr(res, name), Path(out) / f"{name}.parquet")
    master_of_run = res.plan.backend if res.plan is not None else "?"
    print(f"{case} on {master} ({master_of_run}): {res!r}")


if __name__ == "__main__":
    main(*sys.argv[1:])

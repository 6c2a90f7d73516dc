"""The engines of the parity suite, as (backend, mode, options).

An engine that cannot run a case lists it in ``EXPECTED_FAILURES`` with the
reason and the exception type; the test marks it strict xfail, so a fix that
starts passing is noticed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from streambt.errors import UnsupportedError


@dataclass(frozen=True)
class Engine:
    name: str
    backend: str
    mode: str
    options: dict[str, Any] = field(default_factory=dict)


REFERENCE = Engine("duckdb-batch", "duckdb", "batch")

ENGINES: list[Engine] = [
    Engine("duckdb-kernels", "duckdb", "batch", {"placement": "kernels"}),
    Engine("polars", "polars", "batch"),
    Engine("polars-stream", "polars", "stream", {"micro_batch": 50}),
    Engine("duckdb-stream", "duckdb", "stream", {"micro_batch": 37}),
    Engine("duckdb-stream-rowwise", "duckdb", "stream", {"micro_batch": 1}),
    # One SparkSession per test process (streambt.backends.spark.session caches it).
    Engine("spark-batch", "spark", "batch"),
    # Every node in the per-symbol stateful operator; 400 bars per replayed file.
    Engine("spark-stream", "spark", "stream", {"micro_batch": 400}),
    # One Flink environment per test process and mode (streambt.backends.flink.environment).
    # Streaming with two keyed subtasks, so symbols are spread over parallel instances.
    Engine("flink-stream", "flink", "stream", {"parallelism": 2}),
    Engine("flink-batch", "flink", "batch"),
    # The bundled pipeline: every node a kernel, bars in chunks through one keyed operator.
    Engine("flink-stream-kernels", "flink", "stream", {"placement": "kernels", "parallelism": 2}),
]

#: (engine name, case name) -> (reason, exception type)
EXPECTED_FAILURES: dict[tuple[str, str], tuple[str, type[BaseException]]] = {
    (engine, case): (
        "the portfolio broker (one kernel keyed by portfolio) is not hosted on Flink yet",
        UnsupportedError,
    )
    for engine in ("flink-stream", "flink-batch", "flink-stream-kernels")
    for case in ("portfolio_brackets", "portfolio_event", "portfolio_sweep")
}

"""A real standalone Flink cluster on loopback: `streambt submit --engine flink` runs a manifest there
(flink run -py backends/flink/job.py) and the run folder equals the DuckDB run's."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pyarrow.parquet as pq

from streambt.manifest import load_manifest

from ...parity.test_parity import assert_tables_equal
from .conftest import Cluster

MANIFEST = """
[run]
mode = "stream"

[broker]
cash = 10000
commission = 0.001

[[data]]
id = "prices"
kind = "synthetic"
symbol = "DEMO"
bars = 600
seed = 42
start = "2015-01-01"
interval = "1D"

[indicators]
fast = { op = "sma", input = "prices.close", window = 10 }
slow = { op = "ema", input = "prices.close", window = 30 }
pulse = { op = "cross", inputs = ["fast", "slow"] }

[[strategies]]
name = "sma_ema"
signal = "pulse"
allocation = { kind = "all_in", long_only = false }
"""


def test_streambt_submit_runs_the_manifest_on_the_cluster(
    flink_cluster: Cluster, tmp_path: Path
) -> None:
    manifest = tmp_path / "cross.toml"
    manifest.write_text(MANIFEST)
    out = tmp_path / "run"
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "streambt.cli", "submit", str(manifest), "--engine", "flink",
         "--jobmanager", flink_cluster.rest, "--out", str(out)],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"submitted to {flink_cluster.rest} (flink)" in done.stdout
    print(f"streambt submit --engine flink round trip: {elapsed:.1f} s")

    with urllib.request.urlopen(f"http://{flink_cluster.rest}/jobs/overview", timeout=10) as r:
        jobs = json.load(r)["jobs"]
    assert [j["state"] for j in jobs] == ["FINISHED"]  # it ran on the cluster, not in the client

    want_dir = tmp_path / "duckdb"
    load_manifest(manifest).cerebro.run().to_dir(want_dir)
    for name in ("factors.parquet", "equity.parquet"):
        assert_tables_equal(pq.read_table(out / name), pq.read_table(want_dir / name), name)
    for name in ("orders.csv", "fills.csv", "trades.csv"):
        assert (out / name).read_text() == (want_dir / name).read_text(), name
    assert (out / "trades.csv").read_text().count("\n") > 5
    assert (out / "sinks" / "orders" / "_header.csv").is_file()


def test_the_bundled_pipeline_runs_on_the_cluster(flink_cluster: Cluster, tmp_path: Path) -> None:
    """placement="kernels": the bundled operator and its state boxes in the task manager's
    Python worker (not the client's), at parallelism 2 (the operator itself runs once)."""
    from streambt.backends.flink.submit import submit

    manifest = tmp_path / "cross.toml"
    manifest.write_text(MANIFEST)
    out = submit(manifest, flink_cluster.rest, tmp_path / "run", parallelism=2, placement="kernels")
    want_dir = load_manifest(manifest).cerebro.run().to_dir(tmp_path / "duckdb")
    for name in ("factors.parquet", "equity.parquet"):
        assert_tables_equal(pq.read_table(out / name), pq.read_table(want_dir / name), name)
    for name in ("orders.csv", "fills.csv", "trades.csv"):
        assert (out / name).read_text() == (want_dir / name).read_text(), name
    with urllib.request.urlopen(f"http://{flink_cluster.rest}/jobs/overview", timeout=10) as r:
        jobs = json.load(r)["jobs"]
    assert [j["state"] for j in jobs] == ["FINISHED", "FINISHED"]

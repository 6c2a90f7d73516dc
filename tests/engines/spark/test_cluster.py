"""A real standalone Spark cluster on loopback: cb.run(master=spark://...) and `streambt submit`."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

import streambt as sb
from streambt.manifest import load_manifest
from tests.parity.cases import CASES
from tests.parity.test_parity import assert_tables_equal

from .conftest import TIMES, Cluster, parity_frame
from .run_case import TABLES

ROOT = Path(__file__).resolve().parents[3]


def _executors_ran(cluster: Cluster) -> bool:
    """The worker launched executors for an application (its work dir holds app-*/N/)."""
    return any((cluster.logs / "work").glob("app-*/*"))


def test_a_backtest_on_the_standalone_cluster_equals_duckdb(
    cluster: Cluster, tmp_path: Path
) -> None:
    case = "ema_cross_long_short"
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "tests.engines.spark.run_case", cluster.url, str(tmp_path), case],
        cwd=ROOT, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    TIMES["cb.run on the cluster, fresh process (s)"] = time.perf_counter() - started
    assert done.returncode == 0, done.stderr[-4000:]
    assert _executors_ran(cluster)
    cb = sb.Cerebro(cash=10_000, commission=0.001)
    CASES[case](cb, parity_frame())
    want = cb.run()
    for name in TABLES:
        got = pq.read_table(tmp_path / f"{name}.parquet")
        assert_tables_equal(got, getattr(want, name), f"cluster/{name}")


@pytest.mark.parametrize("example", ["sma_cross.toml", "sma_brackets.toml"])
def test_streambt_submit_runs_the_manifest_on_the_cluster(
    cluster: Cluster, tmp_path: Path, example: str
) -> None:
    """A plain run, and one of the portfolio broker (two strategies on one capital)."""
    manifest = ROOT / "examples" / example
    out = tmp_path / "run"
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "streambt.cli", "submit", str(manifest), "--engine", "spark",
         "--master", cluster.url, "--out", str(out)],
        cwd=tmp_path, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    TIMES[f"streambt submit round trip, {example} (s)"] = time.perf_counter() - started
    assert done.returncode == 0, done.stderr[-4000:]
    assert "submitted to spark://127.0.0.1" in done.stdout
    want = load_manifest(manifest).cerebro.run()
    reference = want.to_dir(tmp_path / "duckdb")
    for name in ("equity.parquet", "factors.parquet"):
        assert_tables_equal(pq.read_table(out / name), pq.read_table(reference / name), name)
    for name in ("trades.csv", "orders.csv", "order_events.csv", "fills.csv"):
        assert_tables_equal(pacsv.read_csv(out / name), pacsv.read_csv(reference / name), name)
    assert _same_metrics(out / "metrics.json", reference / "metrics.json")


def _same_metrics(got: Path, want: Path) -> bool:
    import json
    import math

    a, b = json.loads(got.read_text()), json.loads(want.read_text())
    if len(a) != len(b):
        return False
    for ra, rb in zip(a, b, strict=True):
        for k, v in rb.items():
            w = ra.get(k)
            if isinstance(v, float) and isinstance(w, float):
                if not math.isclose(v, w, rel_tol=1e-9, abs_tol=1e-12):
                    return False
            elif v != w:
                return False
    return True

"""Spark fixtures: the process's one SparkSession, and a real standalone cluster on loopback.

The session is the one ``cb.run(backend="spark")`` uses (streambt caches it
per process), so these tests and the parity suite share one JVM. The cluster
is started from the pip package alone (``spark-class ...Master`` and
``...Worker``, ENGINES.md section 4c) in its own process group; the fixture
stops exactly that group, and with it the executors the worker launched.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("pyspark")

import streambt as sb
from streambt.backends.spark.session import spark_session
from streambt.backends.spark.submit import spark_env, spark_home

#: measured fixed costs, printed at the end of the run (-rA shows them)
TIMES: dict[str, float] = {}


@pytest.fixture(scope="session")
def spark() -> object:
    started = time.perf_counter()
    session = spark_session("local[2]")
    TIMES.setdefault("session start (s)", time.perf_counter() - started)
    return session


def parity_frame() -> pd.DataFrame:
    """The parity suite's frame: two symbols of different lengths."""
    a = sb.feeds.synthetic_bars(700, seed=11).assign(symbol="AAA")
    b = sb.feeds.synthetic_bars(450, seed=12, start="2020-03-01", price=40.0).assign(symbol="BBB")
    return pd.concat([a, b], ignore_index=True)


@pytest.fixture(scope="session")
def two_symbols() -> pd.DataFrame:
    return parity_frame()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Cluster:
    """A standalone master and one worker on 127.0.0.1, with their log files."""

    url: str
    master: subprocess.Popen[bytes]
    worker: subprocess.Popen[bytes]
    logs: Path

    def stop(self) -> None:
        # Each JVM leads its own process group; the worker's holds its executors.
        for proc in (self.worker, self.master):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in (self.worker, self.master):
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)


def _wait_for(log: Path, text: str, proc: subprocess.Popen[bytes], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if log.exists() and text in log.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            break
        time.sleep(0.25)
    raise RuntimeError(f"{log.name}: no {text!r} in {seconds:.0f} s:\n{log.read_text()[-3000:]}")


def start_cluster(tmp: Path, cores: int = 2, memory: str = "2g") -> Cluster:
    env = spark_env()
    env["SPARK_WORKER_DIR"] = str(tmp / "work")
    env["SPARK_LOG_DIR"] = str(tmp)
    spark_class = str(spark_home() / "bin" / "spark-class")
    port = free_port()
    url = f"spark://127.0.0.1:{port}"
    logs = tmp
    with open(tmp / "master.log", "wb") as out:
        master = subprocess.Popen(
            [spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
             "--port", str(port), "--webui-port", str(free_port())],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    worker = None
    try:
        _wait_for(tmp / "master.log", "I have been elected leader", master, 90)
        with open(tmp / "worker.log", "wb") as out:
            worker = subprocess.Popen(
                [spark_class, "org.apache.spark.deploy.worker.Worker", url, "--host", "127.0.0.1",
                 "--cores", str(cores), "--memory", memory, "--webui-port", str(free_port()),
                 "--work-dir", str(tmp / "work")],
                env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        _wait_for(tmp / "worker.log", "Successfully registered with master", worker, 90)
    except BaseException:
        for proc in (worker, master):
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        raise
    return Cluster(url, master, worker, logs)


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    started = time.perf_counter()
    c = start_cluster(tmp_path_factory.mktemp("spark-cluster"))
    TIMES["standalone cluster up (s)"] = time.perf_counter() - started
    try:
        yield c
    finally:
        c.stop()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if TIMES:
        terminalreporter.write_line("spark: " + ", ".join(f"{k} {v:.1f}" for k, v in TIMES.items()))

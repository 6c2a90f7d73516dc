"""Flink fixtures: one local environment per test session, and a real standalone cluster on loopback.

A JVM and a first job cost 10-20 s (ENGINES.md section 7): the environment
is created once per process (streambt.backends.flink.environment caches it)
and warmed by the session fixture; the cluster is started once, for the
tests that submit to it, from the apache-flink package's own bin/ scripts
with a config copied into a temporary folder (ENGINES.md section 5c).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import yaml

import streambt as sb

REPO = Path(__file__).resolve().parents[3]
CLUSTER_CONFIG = REPO / "backends" / "flink" / "config.yaml"


@pytest.fixture(scope="session")
def flink_frame() -> pd.DataFrame:
    """Two symbols with different lengths and start dates (the parity suite's shape, shorter)."""
    a = sb.feeds.synthetic_bars(400, seed=21).assign(symbol="AAA")
    b = sb.feeds.synthetic_bars(260, seed=22, start="2020-03-01", price=40.0).assign(symbol="BBB")
    return pd.concat([a, b], ignore_index=True)


@pytest.fixture(scope="session")
def flink_env() -> object:
    """The session's streaming environment (created once, reused by every run in this process)."""
    from streambt.backends.flink.environment import get_env

    return get_env("stream", 1, None, 0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Cluster:
    """A running standalone Flink cluster: its REST address and the files it runs from."""

    rest: str
    home: Path
    env: dict[str, str]
    root: Path

    def overview(self) -> dict[str, object]:
        with urllib.request.urlopen(f"http://{self.rest}/overview", timeout=5) as r:
            data: dict[str, object] = json.load(r)
            return data


def cluster_config(root: Path, rest_port: int, rpc_port: int) -> dict[str, object]:
    """backends/flink/config.yaml with loopback addresses, free ports and this interpreter."""
    conf: dict[str, object] = yaml.safe_load(CLUSTER_CONFIG.read_text())
    conf.update(
        {
            "jobmanager.rpc.address": "127.0.0.1",
            "jobmanager.rpc.port": rpc_port,
            "jobmanager.bind-host": "127.0.0.1",
            "taskmanager.bind-host": "127.0.0.1",
            "taskmanager.host": "127.0.0.1",
            "rest.address": "127.0.0.1",
            "rest.bind-address": "127.0.0.1",
            "rest.port": rest_port,
            "taskmanager.rpc.port": _free_port(),
            "taskmanager.data.port": _free_port(),
            "blob.server.port": _free_port(),
            "python.executable": sys.executable,
            "python.client.executable": sys.executable,
            "execution.checkpointing.dir": (root / "checkpoints").as_uri(),
            "execution.checkpointing.savepoint-dir": (root / "savepoints").as_uri(),
            "io.tmp.dirs": str(root / "tmp"),
        }
    )
    return conf


@pytest.fixture(scope="session")
def flink_cluster() -> Iterator[Cluster]:
    """A JobManager and a TaskManager (2 slots) on 127.0.0.1, stopped at the end of the session."""
    import pyflink

    home = Path(pyflink.__file__).resolve().parent
    # Not under pytest's basetemp: another pytest session on the machine may prune it
    # while the cluster still reads its config from there.
    root = Path(tempfile.mkdtemp(prefix="streambt-flink-cluster-"))
    conf_dir = root / "conf"
    shutil.copytree(home / "conf", conf_dir)  # the venv's copy stays untouched
    for folder in ("tmp", "log", "pids"):  # flink-daemon.sh writes there, creates none
        (root / folder).mkdir()
    rest_port = _free_port()
    (conf_dir / "config.yaml").write_text(
        yaml.safe_dump(cluster_config(root, rest_port, _free_port()), sort_keys=True)
    )
    (conf_dir / "masters").write_text(f"127.0.0.1:{rest_port}\n")
    (conf_dir / "workers").write_text("127.0.0.1\n")
    env = dict(os.environ)
    env.update(
        {
            "FLINK_HOME": str(home),
            "FLINK_CONF_DIR": str(conf_dir),
            "FLINK_LOG_DIR": str(root / "log"),
            "FLINK_PID_DIR": str(root / "pids"),
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
        }
    )
    cluster = Cluster(f"127.0.0.1:{rest_port}", home, env, root)
    started = time.monotonic()
    try:
        # start-cluster.sh writes each daemon's pid to FLINK_PID_DIR (ours alone);
        # stop-cluster.sh stops exactly those pids.
        subprocess.run(
            ["bash", str(home / "bin" / "start-cluster.sh")],
            env=env,
            check=True,
            capture_output=True,
            timeout=120,
        )
        while True:
            try:
                if int(str(cluster.overview().get("taskmanagers", 0))) >= 1:
                    break
            except OSError:
                pass
            if time.monotonic() - started > 120:
                logs = "\n".join(p.read_text()[-2000:] for p in (root / "log").glob("*.log"))
                raise RuntimeError(f"the Flink cluster did not come up in 120 s:\n{logs}")
            time.sleep(0.5)
        print(f"flink cluster up in {time.monotonic() - started:.1f} s at {cluster.rest}")
        yield cluster
    finally:
        started_pids = _daemon_pids(root / "pids")
        subprocess.run(
            ["bash", str(home / "bin" / "stop-cluster.sh")],
            env=env,
            check=False,
            capture_output=True,
            timeout=120,
        )
        _reap(started_pids)
        shutil.rmtree(root, ignore_errors=True)


def _daemon_pids(folder: Path) -> list[int]:
    """The JobManager and TaskManager pids flink-daemon.sh wrote into our pid folder."""
    pids = []
    for f in folder.glob("*.pid"):
        pids += [int(x) for x in f.read_text().split() if x.isdigit()]
    return pids


def _reap(pids: list[int], seconds: float = 30.0) -> None:
    """Wait for our daemons to exit after stop-cluster.sh; SIGKILL any that do not (ours only)."""
    deadline = time.monotonic() + seconds
    for pid in pids:
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    """Still running, and still a Flink daemon (not a later process given the same pid)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"org.apache.flink" in cmdline

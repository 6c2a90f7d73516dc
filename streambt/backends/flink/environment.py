"""The PyFlink environments of this process: checked once, created once, reused by every run.

A JVM and a first job cost 10-20 s (ENGINES.md section 7), so each process
keeps one ``StreamExecutionEnvironment`` and its ``StreamTableEnvironment`` per
(mode, parallelism, checkpointing, restarts) and every run builds its job on
them. Settings every environment gets (ENGINES.md section 5):

- ``python.executable`` = this interpreter, else Flink's Python workers run
  ``python`` from PATH and fail with ``No module named 'pyflink'``;
- Flink's own logs at WARN in a temporary folder, not INFO inside the venv;
- Java checked before the gateway starts, so a wrong Java is one clear error.

Each run plans its Table API queries on the Java thread that created the
table environment (:meth:`FlinkEnv.plan_on_home_thread`): Flink's planner keeps
Calcite's metadata handlers in a thread-local of that thread, and a query
planned on another one fails with ``NullPointerException:
metadataHandlerProvider``. Py4J serves each of its pooled connections on its
own Java thread, and a Python object released in another thread (a Beam
worker's garbage collection, during a job) opens a second connection, which
the main thread may take next.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from typing import Any

from ...errors import BackendError

#: Java releases Flink 2.x runs on
JAVA_RELEASES = (11, 17, 21)
_LOCK = threading.Lock()
_ENVS: dict[EnvKey, FlinkEnv] = {}
#: set by the job entry (``flink run -py``): the environment comes from the cluster's
#: context and configuration (python.executable, logs and Java are the cluster's)
SUBMITTED = [False]


@dataclass(frozen=True)
class EnvKey:
    """What makes two runs need different environments."""

    mode: str
    parallelism: int
    checkpoint_ms: int | None
    restart_attempts: int
    #: longest a Python worker holds a bundle of rows (latency against throughput)
    bundle_ms: int = 20


@dataclass
class FlinkEnv:
    """A DataStream environment, its table environment and the Ibis connection over it."""

    env: Any
    tenv: Any
    con: Any
    key: EnvKey
    #: the Py4J connection (so the Java thread) the table environment was created on
    home: Any = None

    def plan_on_home_thread(self) -> None:
        """Make this thread's next Py4J calls use the table environment's own Java thread."""
        pool = _py4j_pool()
        if self.home is None or pool is None:
            return
        try:
            pool.remove(self.home)  # idle in the pool (not in use by another thread)
        except ValueError:
            return
        pool.append(self.home)  # the pool hands out its newest connection first


def java_executable() -> str:
    """The java Flink's gateway will start: $JAVA_HOME/bin/java, else java on PATH."""
    home = os.environ.get("JAVA_HOME")
    return os.path.join(home, "bin", "java") if home else "java"


def check_java() -> int:
    """The Java major release, or a BackendError that names the fix."""
    java = java_executable()
    fix = (
        "install openjdk-17-jre (apt-get install openjdk-17-jre-headless) and point JAVA_HOME at it"
    )
    where = f"$JAVA_HOME={os.environ['JAVA_HOME']}" if "JAVA_HOME" in os.environ else "PATH"
    if shutil.which(java) is None and not os.access(java, os.X_OK):
        raise BackendError(f"Flink needs Java 17: no java found via {where} ({java}); {fix}")
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60)
    except OSError as exc:
        raise BackendError(f"Flink needs Java 17: `{java} -version` failed ({exc}); {fix}") from exc
    text = (out.stderr or out.stdout).strip()
    found = re.search(r'version "(\d+)(?:\.(\d+))?', text)
    major = 0
    if found:
        major = int(found.group(1))
        if major == 1 and found.group(2):  # "1.8.0_292"
            major = int(found.group(2))
    if out.returncode != 0 or major not in JAVA_RELEASES:
        said = text.splitlines()[0] if text else f"exit code {out.returncode}"
        raise BackendError(
            f"Flink needs Java 17 (or {', '.join(map(str, JAVA_RELEASES))}): "
            f"`{java} -version` says {said!r}; {fix}"
        )
    return major


def _quiet_logs() -> None:
    """Flink's JVM logs: WARN and above, in a temporary folder (the default is INFO in the venv)."""
    os.environ.setdefault("ROOT_LOG_LEVEL", "WARN")
    if "FLINK_LOG_DIR" not in os.environ:
        os.environ["FLINK_LOG_DIR"] = tempfile.mkdtemp(prefix="streambt-flink-logs-")
    # When a local job ends, the JVM hangs up the Python workers' gRPC data stream
    # while Beam's reader thread still waits on it: a CANCELLED error and a stack trace
    # on stderr after every successful job. Real failures reach the job's result.
    logging.getLogger("apache_beam.runners.worker.data_plane").setLevel(logging.CRITICAL)
    previous = threading.excepthook

    def hook(args: threading.ExceptHookArgs) -> None:
        thread = getattr(args.thread, "name", "")
        if thread == "read_grpc_client_inputs" and "CANCELLED" in str(args.exc_value):
            return
        previous(args)

    if getattr(threading.excepthook, "__name__", "") != "hook":
        threading.excepthook = hook


def get_env(
    mode: str,
    parallelism: int,
    checkpoint_ms: int | None,
    restart_attempts: int,
    bundle_ms: int = 20,
) -> FlinkEnv:
    """The environment of this process for these settings, created on first use."""
    key = EnvKey(mode, parallelism, checkpoint_ms, restart_attempts, bundle_ms)
    with _LOCK:
        if key not in _ENVS:
            _ENVS[key] = _create(key)
        fenv = _ENVS[key]
    fenv.plan_on_home_thread()
    return fenv


def _py4j_pool() -> Any:
    """The Py4J client's pool of idle connections (a deque; None if not reachable)."""
    from pyflink.java_gateway import get_gateway

    client = getattr(get_gateway(), "_gateway_client", None)
    return getattr(client, "deque", None)


def _create(key: EnvKey) -> FlinkEnv:
    from pyflink.common import Configuration
    from pyflink.datastream import StreamExecutionEnvironment

    if SUBMITTED[0]:
        env = StreamExecutionEnvironment.get_execution_environment()
        return _finish(env, key)
    check_java()
    _quiet_logs()
    conf = Configuration()
    conf.set_string("python.executable", sys.executable)
    conf.set_string("python.client.executable", sys.executable)
    # Watermarks every 20 ms, Python bundles of at most bundle_ms: each Python
    # stage holds a bar for up to a bundle (measured: 1 s bundles, Flink's default,
    # gave 1.6 s bar-to-order; 50 ms gave 240 ms; 5 ms 140 ms, two Python stages).
    conf.set_string("pipeline.auto-watermark-interval", "20 ms")
    conf.set_string("python.fn-execution.bundle.time", str(key.bundle_ms))
    if key.restart_attempts:
        conf.set_string("restart-strategy.type", "fixed-delay")
        conf.set_string("restart-strategy.fixed-delay.attempts", str(key.restart_attempts))
        conf.set_string("restart-strategy.fixed-delay.delay", "200 ms")
    else:
        conf.set_string("restart-strategy.type", "none")
    return _finish(StreamExecutionEnvironment.get_execution_environment(conf), key)


def _finish(env: Any, key: EnvKey) -> FlinkEnv:
    import ibis
    from pyflink.datastream import RuntimeExecutionMode
    from pyflink.table import EnvironmentSettings, StreamTableEnvironment

    batch = key.mode == "batch"
    env.set_runtime_mode(RuntimeExecutionMode.BATCH if batch else RuntimeExecutionMode.STREAMING)
    env.set_parallelism(key.parallelism)
    if key.checkpoint_ms:
        env.enable_checkpointing(key.checkpoint_ms)
    settings = (
        EnvironmentSettings.in_batch_mode() if batch else EnvironmentSettings.in_streaming_mode()
    )
    tenv = StreamTableEnvironment.create(env, environment_settings=settings)
    tenv.get_config().set("parallelism.default", str(key.parallelism))
    tenv.get_config().set("table.local-time-zone", "UTC")
    pool = _py4j_pool()
    # The connection this thread just used and gave back: the newest in the pool.
    home = pool[-1] if pool else None
    return FlinkEnv(env, tenv, ibis.flink.connect(tenv), key, home)

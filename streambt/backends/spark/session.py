"""One SparkSession per process, configured once and reused by every run.

A JVM costs 10-15 s to start, so :func:`spark_session` keeps the session in a
module-level cache keyed by (master, conf); asking for another master stops
the current one first (a process holds one SparkContext). Before the JVM is
launched, the Java version is checked, so a missing or old Java is a clear
:class:`~streambt.errors.BackendError` instead of a py4j stack trace.

Settings (ENGINES.md section 4): ``SPARK_LOCAL_IP=127.0.0.1`` (else the
driver binds to whatever the host name resolves to), ``PYSPARK_PYTHON`` =
this interpreter (else workers run ``python3`` from PATH, without streambt),
session time zone UTC, few shuffle partitions, no UI, and quiet logs: a log4j2
configuration at ERROR for the JVM and the py4j / PySpark loggers turned down.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession

from ...errors import BackendError

DEFAULT_MASTER = "local[2]"
JAVA_MAJORS = (17, 21)

#: the JVM's log configuration: errors only, on stderr
LOG4J2 = """\
# The root stays at WARN: Spark prints "Setting default log level" whenever the
# root level differs from the shell's default (WARN). The appender drops the rest.
rootLogger.level = warn
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.filter.threshold.type = ThresholdFilter
appender.console.filter.threshold.level = error
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n%ex
# A streaming query stopped mid-batch (to be restarted from its checkpoint) interrupts
# the batch's broadcasts; Spark logs that as an error, though nothing is lost.
logger.broadcast.name = org.apache.spark.broadcast.TorrentBroadcast
logger.broadcast.level = fatal
"""

#: session settings every run gets; ``conf=`` entries of a run override them
BASE_CONF: dict[str, str] = {
    "spark.app.name": "streambt",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.shuffle.partitions": "2",
    # spark.default.parallelism is left to Spark: the cores of local[N] or of the cluster's
    # executors, which is how many groups a sweep's strategies are split into.
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    # A backtest's groups are symbols: adaptive coalescing would merge them anyway.
    "spark.sql.adaptive.enabled": "true",
    "spark.python.worker.reuse": "true",
    # applyInPandasWithState concatenates all-null columns: pandas warns on every call.
    "spark.executorEnv.PYTHONWARNINGS": "ignore::FutureWarning:pyspark.sql.pandas.serializers",
    # pandas writes Parquet timestamps in nanoseconds, which Spark refuses to read
    # as timestamps: they come as int64 and the feed reader converts them.
    "spark.sql.legacy.parquet.nanosAsLong": "true",
    # Structured Streaming: the RocksDB store keeps state off the JVM heap, and
    # transformWithStateInPandas requires it.
    "spark.sql.streaming.stateStore.providerClass": (
        "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider"
    ),
}

_lock = threading.Lock()
_current: tuple[tuple[str, tuple[tuple[str, str], ...]], SparkSession] | None = None
_scratch: Path | None = None


def scratch_dir() -> Path:
    """A per-process folder for the log configuration, the warehouse and shipped code."""
    global _scratch
    if _scratch is None:
        _scratch = Path(tempfile.mkdtemp(prefix="streambt-spark-"))
        atexit.register(shutil.rmtree, _scratch, True)
    return _scratch


def java_binary() -> str:
    """The java that ``spark-class`` will run: ``$JAVA_HOME/bin/java``, else ``java`` on PATH."""
    home = os.environ.get("JAVA_HOME")
    return str(Path(home) / "bin" / "java") if home else "java"


def check_java() -> int:
    """The Java major version, or :class:`BackendError` saying what to install."""
    java = java_binary()
    hint = "install openjdk-17-jre (apt-get install openjdk-17-jre-headless) or point JAVA_HOME at a Java 17"
    try:
        done = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        where = f"JAVA_HOME={os.environ['JAVA_HOME']}" if "JAVA_HOME" in os.environ else "PATH"
        raise BackendError(
            f"Spark needs Java 17: `java -version` could not run ({java} from {where}: {exc}); {hint}"
        ) from exc
    said = (done.stderr or done.stdout).strip()
    found = re.search(r'version "(\d+)(?:\.(\d+))?', said)
    if done.returncode != 0 or found is None:
        raise BackendError(f"Spark needs Java 17: `java -version` says {said[:200]!r}; {hint}")
    major = int(found.group(1))
    if major == 1 and found.group(2):  # "1.8.0_392" is Java 8
        major = int(found.group(2))
    if major < JAVA_MAJORS[0]:
        first = said.splitlines()[0] if said else ""
        raise BackendError(f"Spark needs Java 17: `java -version` says {first!r}; {hint}")
    return major


def quiet_python_loggers() -> None:
    """py4j logs every connection at INFO; PySpark logs each analysis error again as JSON."""
    logging.getLogger("py4j").setLevel(logging.WARNING)
    try:
        from pyspark.logger import PySparkLogger
    except ImportError:  # pragma: no cover - pyspark < 4
        return
    # Created through PySparkLogger: its records carry keyword fields a plain Logger rejects.
    for name in ("DataFrameQueryContextLogger", "SQLQueryContextLogger"):
        PySparkLogger.getLogger(name).setLevel(logging.CRITICAL)


def session_conf(master: str, conf: Mapping[str, Any] | None = None) -> dict[str, str]:
    """The full configuration of a session for ``master``."""
    scratch = scratch_dir()
    log_conf = scratch / "log4j2.properties"
    if not log_conf.exists():
        log_conf.write_text(LOG4J2)
    java_opts = f"-Dlog4j2.configurationFile=file:{log_conf}"
    out = dict(BASE_CONF)
    out.update(
        {
            "spark.master": master,
            "spark.driver.extraJavaOptions": java_opts,
            "spark.executor.extraJavaOptions": java_opts,
            "spark.sql.warehouse.dir": str(scratch / "warehouse"),
            "spark.pyspark.python": sys.executable,
        }
    )
    for key, value in (conf or {}).items():
        out[str(key)] = str(value)
    return out


def spark_session(
    master: str = DEFAULT_MASTER, conf: Mapping[str, Any] | None = None
) -> SparkSession:
    """The process's SparkSession for ``master`` and ``conf``, started on first use.

    Examples
    --------
    >>> spark = spark_session("local[2]")         # doctest: +SKIP
    >>> spark is spark_session("local[2]")        # doctest: +SKIP
    True
    """
    global _current
    settings = session_conf(master, conf)
    key = (master, tuple(sorted(settings.items())))
    with _lock:
        if _current is not None and _current[0] == key and _alive(_current[1]):
            return _current[1]
        if _current is not None:
            _current[1].stop()
            _current = None
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        os.environ["PYSPARK_PYTHON"] = sys.executable
        quiet_python_loggers()
        check_java()
        builder = SparkSession.builder
        for k, v in settings.items():
            builder = builder.config(k, v)
        try:
            spark = builder.getOrCreate()
        except Exception as exc:  # the JVM did not come up: say so plainly
            raise BackendError(
                f"Spark did not start with master {master!r}: {type(exc).__name__}: "
                f"{str(exc).splitlines()[0] if str(exc) else ''}"
            ) from exc
        spark.sparkContext.setLogLevel("ERROR")
        if not master.startswith("local") and _package_root().is_dir():
            # Executors elsewhere import streambt from a zip of this very source (under
            # spark-submit, streambt already comes from the --py-files zip).
            spark.sparkContext.addPyFile(str(package_zip()))
        _current = (key, spark)
        return spark


def _alive(spark: SparkSession) -> bool:
    sc = spark.sparkContext
    return sc._jsc is not None and not sc._jsc.sc().isStopped()


def stop_session() -> None:
    """Stop the cached session (a new one starts on the next run)."""
    global _current
    with _lock:
        if _current is not None:
            _current[1].stop()
            _current = None


def package_zip(dest: Path | None = None) -> Path:
    """A zip of the streambt package as it is imported here, for ``--py-files``/``addPyFile``."""
    root = _package_root()
    target = dest or scratch_dir() / "streambt.zip"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(root.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                zf.write(path, Path("streambt") / path.relative_to(root))
    return target


def _package_root() -> Path:
    import streambt

    return Path(streambt.__file__).resolve().parent

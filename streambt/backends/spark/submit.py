"""``streambt submit MANIFEST --engine spark --master spark://HOST:PORT``: a backtest as a Spark application.

What ships: the manifest's path and a zip of the streambt package as it is
imported here, built on the fly and passed with ``--py-files``, so the driver
and every executor run exactly the submitter's code. streambt's dependencies
(numpy, pyarrow, ibis, numba, ...) must be installed in the Python that runs
the workers (``spark.pyspark.python``, this interpreter by default): on one
machine or a cluster sharing a virtual environment, that is already so. The
driver runs in client mode (Spark's standalone cluster does not run Python
drivers in cluster mode), executes ``backends/spark/job.py`` (or the same
entry written to a scratch folder when streambt is installed without the
repository), and writes the run folder (``Result.to_dir``) to ``out``, a path
the submitter reads back: local here, a shared filesystem on a real cluster.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyspark

from ..submit_job import run_client, run_folders
from .session import package_zip

#: the repository's deployment folder (absent when streambt is installed from a wheel)
DEPLOY = Path(__file__).resolve().parents[3] / "backends" / "spark"

JOB = '''"""The Spark job streambt submits: run a manifest on the cluster, write the run folder."""
import sys

from streambt.backends.spark.submit import job_main

if __name__ == "__main__":
    sys.exit(job_main(sys.argv[1:]))
'''


def spark_home() -> Path:
    """The Spark distribution inside the pyspark package (bin/, jars/, sbin/)."""
    return Path(pyspark.__file__).resolve().parent


def spark_env(python: str = sys.executable) -> dict[str, str]:
    """The environment for Spark's launch scripts: SPARK_HOME set (else ``find_spark_home.py``
    runs whatever ``python3`` is on PATH), loopback, and the workers' Python."""
    env = dict(os.environ)
    env["SPARK_HOME"] = str(spark_home())
    env.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    env["PYSPARK_PYTHON"] = python
    env["PYSPARK_DRIVER_PYTHON"] = python
    env["PATH"] = f"{Path(python).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def job_script(scratch: Path) -> Path:
    """The job entry point: the repository's ``backends/spark/job.py``, else a copy of it."""
    repo_job = DEPLOY / "job.py"
    if repo_job.is_file():
        return repo_job
    path = scratch / "job.py"
    path.write_text(JOB)
    return path


def submit_command(
    manifest: Path,
    master: str,
    out: Path,
    scratch: Path,
    conf: Mapping[str, Any] | None = None,
    python: str = sys.executable,
) -> list[str]:
    """The spark-submit command line for one manifest."""
    cmd = [
        str(spark_home() / "bin" / "spark-submit"),
        "--master",
        master,
        "--deploy-mode",
        "client",
        "--name",
        f"streambt {manifest.stem}",
    ]
    defaults = DEPLOY / "spark-defaults.conf"
    if defaults.is_file():
        cmd += ["--properties-file", str(defaults)]
    settings = {"spark.pyspark.python": python, "spark.pyspark.driver.python": python}
    settings.update({str(k): str(v) for k, v in (conf or {}).items()})
    for key, value in settings.items():
        cmd += ["--conf", f"{key}={value}"]
    cmd += ["--py-files", str(package_zip(scratch / "streambt.zip"))]
    cmd += [str(job_script(scratch)), str(manifest.resolve()), str(out.resolve())]
    return cmd


def submit(
    manifest: str | os.PathLike[str],
    master: str,
    out: str | os.PathLike[str],
    conf: Mapping[str, Any] | None = None,
    timeout: float = 1800.0,
) -> Path:
    """Run ``manifest`` as a Spark application on ``master``; returns the run folder it wrote.

    Examples
    --------
    >>> submit("examples/sma_cross.toml", "spark://127.0.0.1:7077", "runs/sma")   # doctest: +SKIP
    PosixPath('runs/sma')
    """
    path, target = run_folders(manifest, out)
    with tempfile.TemporaryDirectory(prefix="streambt-submit-") as tmp:
        cmd = submit_command(path, master, target, Path(tmp), conf)
        return run_client("spark-submit", master, cmd, spark_env(), target, timeout)


def job_main(argv: Sequence[str]) -> int:
    """The driver's side: ``job.py MANIFEST OUT`` run by spark-submit."""
    if len(argv) != 2:
        print("usage: job.py MANIFEST OUT", file=sys.stderr)
        return 2
    from pyspark import SparkConf

    from ...manifest import load_manifest

    manifest, out = argv
    conf = SparkConf()
    master = conf.get("spark.master", "local[2]")
    loaded = load_manifest(manifest)
    res = loaded.cerebro.run(backend="spark", mode=loaded.mode, master=master)
    res.to_dir(out)
    print(f"streambt job: {res!r} on {master}; results in {out}")
    return 0

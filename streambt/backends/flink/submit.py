"""``streambt submit MANIFEST --engine flink --jobmanager HOST:PORT``: a backtest as a Flink job.

:func:`main` is what the cluster's client runs (``flink run -py
backends/flink/job.py --manifest M --out DIR``): it builds the manifest's graph
on the cluster's environment (the cluster's configuration: checkpointing,
restart strategy, Python interpreter), runs it to the end of its input in the
manifest's ``[run] mode`` (or ``--mode``), and writes the run folder
(trades.csv, orders.csv, fills.csv, equity.parquet, factors.parquet,
metrics.json) to ``DIR`` and the job's sinks to ``DIR/sinks``. ``DIR`` must be a
folder the task managers and the client share (one machine, or a volume
mounted at the same path, as in docker-compose.yml).

:func:`submit` is the CLI's side: it checks the JobManager answers, then calls
``flink run -py`` from the apache-flink package against ``--jobmanager
HOST:PORT`` (the REST address) with the entry point ``backends/flink/job.py``
(or the same entry written to a scratch folder when streambt is installed
without the repository), and checks the run folder was written. The task
managers' Python must have streambt and its dependencies installed (this
interpreter on one machine; the job image of docker-compose.yml).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from ...errors import BackendError
from ..submit_job import run_client, run_folders

#: the repository's deployment folder (absent when streambt is installed from a wheel)
DEPLOY = Path(__file__).resolve().parents[3] / "backends" / "flink"

JOB = '''"""The Flink job streambt submits: run a manifest on the cluster, write the run folder."""
import sys

from streambt.backends.flink.submit import main

if __name__ == "__main__":
    sys.exit(main())
'''


def job_script(scratch: Path) -> Path:
    """The job entry point: the repository's ``backends/flink/job.py``, else a copy of it."""
    repo_job = DEPLOY / "job.py"
    if repo_job.is_file():
        return repo_job
    path = scratch / "job.py"
    path.write_text(JOB)
    return path


def flink_home() -> Path:
    """The Flink distribution inside the apache-flink package (bin/, conf/, lib/)."""
    try:
        import pyflink
    except ImportError as exc:
        raise BackendError(
            'streambt submit --engine flink needs pip install "streambt[flink]"'
        ) from exc
    return Path(pyflink.__file__).resolve().parent


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="streambt-flink-job", description=__doc__.splitlines()[0])
    p.add_argument("--manifest", required=True, help="the TOML manifest")
    p.add_argument("--out", required=True, help="folder for the sinks and the run folder")
    p.add_argument("--mode", choices=["stream", "batch"], help="default: the manifest's [run] mode")
    p.add_argument("--parallelism", type=int, default=1)
    p.add_argument("--placement", choices=["relational", "kernels"], default="relational")
    p.add_argument(
        "--replay-rate", type=float, help="replay the feeds at this many bars per second"
    )
    return p


def main(argv: list[str] | None = None) -> int:
    """The job, as the cluster's client runs it."""
    from ...manifest import load_manifest
    from . import replay
    from .environment import SUBMITTED

    args = build_parser().parse_args(argv)
    SUBMITTED[0] = True
    out = Path(args.out).resolve()
    manifest = load_manifest(args.manifest)
    mode = args.mode or manifest.mode
    options: dict[str, Any] = {
        "parallelism": args.parallelism,
        "placement": args.placement,
        "out": out / "sinks",
    }
    if args.replay_rate:
        options["source"] = replay(rate=args.replay_rate)
    started = time.perf_counter()
    res = manifest.cerebro.run(backend="flink", mode=mode, **options)
    res.to_dir(out)
    print(
        f"streambt job: {Path(args.manifest).name} on the flink cluster ({mode}): "
        f"{res.factors.num_rows:,} bars, {res.orders.num_rows} orders, {res.trades.num_rows} trades "
        f"in {time.perf_counter() - started:.1f} s; run folder {out}",
        flush=True,
    )
    return 0


def check_jobmanager(jobmanager: str, timeout: float = 10.0) -> dict[str, Any]:
    """``HOST:PORT`` of a JobManager's REST endpoint that answers; its ``/overview``."""
    host, sep, port = jobmanager.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise BackendError(
            f"--jobmanager {jobmanager!r}: write HOST:PORT, the JobManager's REST address "
            "(rest.port, 8081 by default), e.g. --jobmanager localhost:8081"
        )
    url = f"http://{host}:{port}/overview"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            overview: dict[str, Any] = json.load(r)
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise BackendError(
            f"--jobmanager {jobmanager}: no Flink JobManager answers at {url} ({reason}); "
            "start the cluster (bin/start-cluster.sh, or docker compose up) or pass its REST "
            "address"
        ) from exc
    if "flink-version" not in overview:
        raise BackendError(
            f"--jobmanager {jobmanager}: {url} answered, but not as a Flink JobManager "
            f"({sorted(overview)[:5]}); pass the JobManager's REST address"
        )
    return overview


def submit_command(
    manifest: Path,
    jobmanager: str,
    out: Path,
    scratch: Path,
    mode: str | None = None,
    parallelism: int = 1,
    placement: str = "relational",
) -> list[str]:
    """The ``flink run -py`` command line for one manifest."""
    cmd = [
        "bash",
        str(flink_home() / "bin" / "flink"),
        "run",
        "-m",
        jobmanager,
        "-py",
        str(job_script(scratch)),
        "-pyclientexec",
        sys.executable,
        "--manifest",
        str(manifest.resolve()),
        "--out",
        str(out.resolve()),
        "--parallelism",
        str(parallelism),
        "--placement",
        placement,
    ]
    if mode is not None:
        cmd += ["--mode", mode]
    return cmd


def submit(
    manifest: str | os.PathLike[str],
    jobmanager: str,
    out: str | os.PathLike[str],
    mode: str | None = None,
    parallelism: int = 1,
    placement: str = "relational",
    timeout: float = 1800.0,
) -> Path:
    """Run ``manifest`` as a job on the Flink cluster at ``jobmanager`` (HOST:PORT, REST); the run folder.

    Examples
    --------
    >>> submit("examples/sma_cross.toml", "127.0.0.1:8081", "runs/sma")   # doctest: +SKIP
    PosixPath('runs/sma')
    """
    path, target = run_folders(manifest, out)
    check_jobmanager(jobmanager)
    home = flink_home()
    env = dict(os.environ)
    env["FLINK_HOME"] = str(home)
    env.setdefault("FLINK_CONF_DIR", str(home / "conf"))
    env.setdefault("FLINK_LOG_DIR", tempfile.mkdtemp(prefix="streambt-flink-cli-"))
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    with tempfile.TemporaryDirectory(prefix="streambt-submit-") as tmp:
        command = submit_command(path, jobmanager, target, Path(tmp), mode, parallelism, placement)
        return run_client(
            "flink run",
            jobmanager,
            command,
            env,
            target,
            timeout,
            still_running=f"the job may still run: see http://{jobmanager}/#/job/running",
        )


if __name__ == "__main__":
    sys.exit(main())

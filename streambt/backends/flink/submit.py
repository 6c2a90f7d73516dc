"""Running a manifest on a Flink cluster: the job's entry point and ``streambt submit --engine flink``.

:func:`main` is what the cluster's client runs (``flink run -py
backends/flink/job.py -- --manifest M --out DIR``): it builds the manifest's
graph on the cluster's environment, runs it to the end of its input, and
writes the run folder (trades.csv, orders.csv, equity.parquet,
factors.parquet, metrics.json) to ``DIR`` and the job's sinks to ``DIR/sinks``. ``DIR`` must be
a folder the task managers and the client share (one machine, or a volume
mounted at the same path, as in docker-compose.yml).

:func:`submit` is the CLI's side: it calls Flink's ``flink run -py`` from the
apache-flink package against ``--jobmanager HOST:PORT`` (the REST address).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ...errors import BackendError

#: the entry script a cluster runs, at the repository root (what docker-compose mounts)
REPO_ENTRY = Path(__file__).resolve().parents[3] / "backends" / "flink" / "job.py"


def entry_script() -> Path:
    """``backends/flink/job.py`` of this checkout, else this module (an installed package)."""
    return REPO_ENTRY if REPO_ENTRY.is_file() else Path(__file__).resolve()


def flink_home() -> Path:
    """The Flink distribution inside the apache-flink package (bin/, conf/, lib/)."""
    try:
        import pyflink
    except ImportError as exc:
        raise BackendError('streambt submit --engine flink needs pip install "streambt[flink]"') from exc
    return Path(pyflink.__file__).resolve().parent


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="streambt-flink-job", description=__doc__.splitlines()[0])
    p.add_argument("--manifest", required=True, help="the TOML manifest")
    p.add_argument("--out", required=True, help="folder for the sinks and the run folder")
    p.add_argument("--mode", choices=["stream", "batch"], default="stream")
    p.add_argument("--parallelism", type=int, default=1)
    p.add_argument("--replay-rate", type=float, help="replay the feeds at this many bars per second")
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
    options: dict[str, object] = {"parallelism": args.parallelism, "out": out / "sinks"}
    if args.replay_rate:
        options["source"] = replay(rate=args.replay_rate)
    started = time.perf_counter()
    res = manifest.cerebro.run(backend="flink", mode=args.mode, **options)
    res.to_dir(out)
    print(
        f"streambt: {Path(args.manifest).name} on the flink cluster ({args.mode}): "
        f"{res.factors.num_rows:,} bars, {res.orders.num_rows} orders, {res.trades.num_rows} trades "
        f"in {time.perf_counter() - started:.1f} s; run folder {out}",
        flush=True,
    )
    return 0


def submit_command(
    manifest: Path, jobmanager: str, out: Path, mode: str = "stream", parallelism: int = 1
) -> list[str]:
    """The ``flink run -py`` command line for one manifest."""
    home = flink_home()
    return [
        "bash",
        str(home / "bin" / "flink"),
        "run",
        "-m",
        jobmanager,
        "-py",
        str(entry_script()),
        "-pyclientexec",
        sys.executable,
        "--manifest",
        str(manifest.resolve()),
        "--out",
        str(out.resolve()),
        "--mode",
        mode,
        "--parallelism",
        str(parallelism),
    ]


def submit(
    manifest: str | os.PathLike[str],
    jobmanager: str,
    out: str | os.PathLike[str],
    mode: str = "stream",
    parallelism: int = 1,
    timeout: float = 1800.0,
) -> Path:
    """Run ``manifest`` as a job on the Flink cluster at ``jobmanager`` (HOST:PORT, REST); the run folder.

    Examples
    --------
    >>> submit("examples/sma_cross.toml", "127.0.0.1:8081", "runs/sma")   # doctest: +SKIP
    PosixPath('runs/sma')
    """
    path, target = Path(manifest), Path(out)
    if not path.is_file():
        raise BackendError(f"submit: manifest {path} does not exist")
    host, sep, port = jobmanager.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise BackendError(
            f"--jobmanager {jobmanager!r}: write HOST:PORT, the JobManager's REST address (e.g. localhost:8081)"
        )
    target.mkdir(parents=True, exist_ok=True)
    home = flink_home()
    env = dict(os.environ)
    env["FLINK_HOME"] = str(home)
    env.setdefault("FLINK_CONF_DIR", str(home / "conf"))
    env.setdefault("FLINK_LOG_DIR", tempfile.mkdtemp(prefix="streambt-flink-cli-"))
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    command = submit_command(path, jobmanager, target, mode, parallelism)
    try:
        done = subprocess.run(command, env=env, timeout=timeout, capture_output=True, text=True)
    except subprocess.TimeoutExpired as exc:
        raise BackendError(f"flink run did not finish within {timeout:.0f} s") from exc
    if done.returncode != 0:
        lines = [ln for ln in (done.stdout + done.stderr).splitlines() if ln.strip() and not ln.startswith("\tat ")]
        tail = "\n".join(lines[-25:])
        raise BackendError(f"flink run exited with {done.returncode}:\n{tail}")
    return target


if __name__ == "__main__":
    sys.exit(main())

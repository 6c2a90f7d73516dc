"""What submitting a manifest to a cluster means on every engine: run the engine's client,
turn its failure into a readable error, and check that the job wrote its results."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..errors import BackendError

#: Java stack frames add nothing to a client's error: the lines kept are the others
_TAIL_LINES = 25


def run_folders(manifest: str | os.PathLike[str], out: str | os.PathLike[str]) -> tuple[Path, Path]:
    """The manifest's path (checked) and the run folder (created)."""
    path, target = Path(manifest), Path(out)
    if not path.is_file():
        raise BackendError(f"submit: manifest {path} does not exist")
    target.mkdir(parents=True, exist_ok=True)
    return path, target


def run_client(
    client: str,
    where: str,
    command: Sequence[str],
    env: Mapping[str, str],
    target: Path,
    timeout: float,
    still_running: str = "",
) -> Path:
    """Run ``command`` (``client`` submitting to ``where``); ``target`` once it holds results.

    Examples
    --------
    >>> run_client("spark-submit", "spark://h:7077", ["false"], {}, Path("."), 5)  # doctest: +SKIP
    Traceback (most recent call last):
    streambt.errors.BackendError: submit: spark-submit to spark://h:7077 failed (exit 1): ...
    """
    try:
        done = subprocess.run(
            list(command),
            env=dict(env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        hint = f" ({still_running})" if still_running else ""
        raise BackendError(f"submit: {client} did not finish in {timeout:.0f} s{hint}") from exc
    if done.returncode != 0:
        lines = [
            ln
            for ln in (done.stdout + done.stderr).splitlines()
            if ln.strip() and not ln.startswith("\tat ")
        ]
        tail = "\n".join(lines[-_TAIL_LINES:])
        raise BackendError(f"submit: {client} to {where} failed (exit {done.returncode}):\n{tail}")
    if not (target / "metrics.json").is_file():
        raise BackendError(f"submit: the job finished but wrote no results to {target}")
    return target

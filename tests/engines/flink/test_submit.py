"""`streambt submit --engine flink` refuses bad input before anything runs, with the fix.

No cluster here: every case fails before `flink run` would start (tests/engines/flink/
test_cluster.py submits to a real one)."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from streambt.backends.flink.submit import check_jobmanager, job_script, submit, submit_command
from streambt.errors import BackendError

ROOT = Path(__file__).resolve().parents[3]
MANIFEST = ROOT / "examples" / "sma_cross.toml"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streambt.cli", "submit", *args],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when the block ends: nothing listens


def test_missing_jobmanager_names_the_flag() -> None:
    done = _cli(str(MANIFEST), "--engine", "flink")
    assert done.returncode != 0
    assert "--engine flink needs --jobmanager" in done.stdout + done.stderr


@pytest.mark.parametrize("address", ["localhost", "localhost:http", ":8081", "host:99999"])
def test_a_malformed_jobmanager_says_how_to_write_it(address: str) -> None:
    with pytest.raises(BackendError, match=r"write HOST:PORT, the JobManager's REST address"):
        check_jobmanager(address)


def test_no_jobmanager_listening_is_one_clear_error(tmp_path: Path) -> None:
    address = f"127.0.0.1:{_closed_port()}"
    done = _cli(str(MANIFEST), "--engine", "flink", "--jobmanager", address, "--out", str(tmp_path))
    assert done.returncode != 0
    text = done.stdout + done.stderr
    assert f"no Flink JobManager answers at http://{address}/overview" in text
    assert "start the cluster" in text


def test_a_missing_manifest_fails_before_the_cluster_is_asked(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match=r"manifest .*nope\.toml does not exist"):
        submit(tmp_path / "nope.toml", "127.0.0.1:1", tmp_path / "out")


def test_the_command_runs_the_repository_entry_with_flink_run_py(tmp_path: Path) -> None:
    cmd = submit_command(MANIFEST, "127.0.0.1:8081", tmp_path / "out", tmp_path, mode="stream")
    assert cmd[2:6] == ["run", "-m", "127.0.0.1:8081", "-py"]
    assert Path(cmd[6]) == ROOT / "backends" / "flink" / "job.py"
    assert cmd[cmd.index("--mode") + 1] == "stream"
    # installed without the repository: the same entry, written to a scratch folder
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    import streambt.backends.flink.submit as submit_module

    saved = submit_module.DEPLOY
    submit_module.DEPLOY = tmp_path / "nowhere"
    try:
        entry = job_script(scratch)
    finally:
        submit_module.DEPLOY = saved
    assert entry.parent == scratch and "from streambt.backends.flink.submit import main" in (
        entry.read_text()
    )

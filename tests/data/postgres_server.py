"""A throw-away PostgreSQL server on loopback for the table-feed tests.

Debian's server binaries live in ``/usr/lib/postgresql/<version>/bin`` (not on
PATH). ``initdb`` refuses to run as root, so as root the cluster belongs to
the ``postgres`` user (``runuser -u postgres --``) and its folder is handed to
that user. The server listens on 127.0.0.1 only, on a free port, with its
unix socket inside the cluster's folder; ``stop()`` stops exactly that server
(``pg_ctl -D <its folder> stop``) and deletes the folder.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

INSTALL = "apt-get update && apt-get install -y postgresql"


def find_bin_dir() -> Path | None:
    """The newest installed PostgreSQL server's bin folder, or None."""
    found = []
    for initdb in glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        version = Path(initdb).parent.parent.name
        found.append((int(version) if version.isdigit() else 0, Path(initdb).parent))
    if found:
        return max(found)[1]
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class PostgresServer:
    """One cluster in a temporary folder, started with ``start()`` and stopped with ``stop()``."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="streambt-pg-"))
        self.data = self.root / "data"
        self.port = 0
        self.user = "postgres"
        self._as: list[str] = []
        if os.geteuid() == 0:
            # initdb and postgres refuse root: run them as the postgres user.
            owner = pwd.getpwnam("postgres")
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
            runner = shutil.which("runuser")
            self._as = [runner, "-u", "postgres", "--"] if runner else ["su", "postgres", "-c"]

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bin_dir / args[0]), *args[1:]]
        # su takes one shell command; runuser (or no wrapper) the argument list
        cmd = [*self._as, " ".join(cmd)] if self._as[:1] == ["su"] else [*self._as, *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)

    def start(self) -> None:
        out = self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            self.user,
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-sync",
        )
        if out.returncode:
            raise RuntimeError(f"initdb failed: {out.stdout}{out.stderr}")
        for _ in range(5):  # another process may take the port between probe and start
            self.port = _free_port()
            options = (
                f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            )
            out = self._run(
                "pg_ctl",
                "-D",
                str(self.data),
                "-o",
                options,
                "-l",
                str(self.root / "log"),
                "-w",
                "-t",
                "60",
                "start",
            )
            if out.returncode == 0:
                return
        log = (self.root / "log").read_text() if (self.root / "log").exists() else ""
        raise RuntimeError(f"pg_ctl start failed: {out.stdout}{out.stderr}\n{log}")

    @property
    def url(self) -> str:
        return f"postgres://{self.user}@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

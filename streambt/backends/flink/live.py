"""Jobs that keep running: a watched directory, a live replay, anything read while it runs.

:func:`start` submits the job and returns at once; :class:`FlinkRun` reads
the sinks as checkpoints commit them and stops the job, by default draining
it (``stop-with-savepoint --drain``: the final watermark flushes every window
and timer, so pending orders are emitted exactly as at the end of a bounded
input).

Examples
--------
>>> from streambt.backends import flink
>>> run = flink.start(cb, source=flink.directory("incoming/"), out="live/")  # doctest: +SKIP
>>> run.wait_for("factors", rows=1_000)                                     # doctest: +SKIP
>>> res = run.stop()                                                        # doctest: +SKIP
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...errors import BackendError
from . import sinks

if TYPE_CHECKING:
    from ...cerebro import Cerebro
    from ...result import Result
    from . import FlinkBackend
    from .job import Built, FlinkJob

#: checkpoint interval of a started job when none is given: sinks commit on checkpoints
DEFAULT_CHECKPOINT_MS = 1_000


class FlinkRun:
    """A submitted job: its sinks, its status, and how to stop it."""

    def __init__(
        self, backend: FlinkBackend, cerebro: Cerebro, job: FlinkJob, built: Built, client: Any
    ) -> None:
        self.backend = backend
        self.cerebro = cerebro
        self.job = job
        self.built = built
        self.client = client
        self.out: Path = built.out
        # Asked for now: a local job's MiniCluster shuts down with the job, and then
        # answers no question; this future still holds how the job ended.
        self.ended = client.get_job_execution_result()

    @property
    def job_id(self) -> str:
        return str(self.client.get_job_id())

    def status(self) -> str:
        """Flink's job status: RUNNING, FINISHED, FAILED, CANCELED, ..."""
        if self.ended.done():
            error = self.ended.exception()
            if error is None:
                return "FINISHED"
            return "CANCELED" if "cancel" in str(error).lower() else "FAILED"
        try:
            return str(self.client.get_job_status().result()).rsplit(".", 1)[-1]
        except Exception:
            if self.ended.done():  # it ended between the two questions
                return self.status()
            raise

    def committed(self, table: str) -> int:
        """Rows of ``table`` committed so far (part files a checkpoint finalized)."""
        return sinks.count_lines(self.out / table)

    def wait_for(self, table: str, rows: int, timeout: float = 120.0) -> int:
        """Block until ``table`` has ``rows`` committed rows; their count."""
        deadline = time.monotonic() + timeout
        while True:
            n = self.committed(table)
            if n >= rows:
                return n
            state = self.status()
            if state in ("FAILED", "CANCELED", "FINISHED") and self.committed(table) < rows:
                raise BackendError(
                    f"flink job {self.job_id} is {state} with {n} of {rows} {table} rows committed"
                )
            if time.monotonic() > deadline:
                raise BackendError(
                    f"flink job {self.job_id}: {n} of {rows} {table} rows after {timeout:.0f} s"
                )
            time.sleep(0.2)

    def wait(self, timeout: float = 600.0) -> Result:
        """Wait for a bounded job to finish; its Result."""
        deadline = time.monotonic() + timeout
        while not self.ended.done():
            if time.monotonic() > deadline:
                raise BackendError(f"flink job {self.job_id} still runs after {timeout:.0f} s")
            time.sleep(0.2)
        self.ended.result()  # a failed job raises here
        return self._finish()

    def result(self) -> Result:
        """The Result of what is committed so far (the job keeps running)."""
        from . import assemble

        return assemble(self.cerebro, self.job.plan, self.built)

    def stop(self, drain: bool = True, timeout: float = 120.0) -> Result:
        """Stop the job (draining it: final watermark, pending timers, last commit); its Result."""
        if self.status() == "RUNNING":
            if drain:
                savepoints = self.out / "savepoints"
                savepoints.mkdir(parents=True, exist_ok=True)
                # PyFlink 2.3's JobClient.stop_with_savepoint calls a Java signature that
                # no longer exists (no SavepointFormatType): call the JVM's directly.
                from pyflink.java_gateway import get_gateway

                fmt = get_gateway().jvm.org.apache.flink.core.execution.SavepointFormatType.DEFAULT
                self.client._j_job_client.stopWithSavepoint(
                    True, savepoints.resolve().as_uri(), fmt
                ).get()
            else:
                self.client.cancel().result()
        deadline = time.monotonic() + timeout
        while self.status() not in ("FINISHED", "CANCELED", "FAILED"):
            if time.monotonic() > deadline:
                raise BackendError(f"flink job {self.job_id} did not stop within {timeout:.0f} s")
            time.sleep(0.2)
        return self._finish()

    def _finish(self) -> Result:
        for view in self.built.views:
            self.job.fenv.tenv.drop_temporary_view(view)
        self.built.views.clear()
        self.backend.check_diagnostics(self.built, temporary=False)
        result = self.result()
        if self.backend.sink_format == "parquet":
            sinks.write_parquet(self.out, result)
        return result


def start(
    cerebro: Cerebro, mode: str = "stream", out: str | Path | None = None, **options: Any
) -> FlinkRun:
    """Submit ``cerebro``'s graph as a Flink job and return while it runs.

    ``out`` (required) is where the sinks are written; ``options`` are the
    Flink backend's (``source``, ``parallelism``, ``watermark_delay``,
    ``checkpoint_interval`` (default 1 s: sinks commit on checkpoints), ...).
    """
    from . import FlinkBackend

    if out is None:
        raise BackendError("flink start(): pass out= (the folder the job's sinks write to)")
    options.setdefault("checkpoint_interval", DEFAULT_CHECKPOINT_MS)
    backend = FlinkBackend(out=out, **options)
    plan = cerebro._plan(backend, mode)
    job = backend.job(cerebro, plan, backend.checkpoint_interval)
    built = job.build()
    client = job.fenv.env.execute_async(f"streambt {mode} {job.run_id}")
    return FlinkRun(backend, cerebro, job, built, client)

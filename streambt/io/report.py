"""The validation report: what each check found in a feed and what was done about it.

Examples
--------
>>> report = sb.feeds.from_csv("bars.csv").validate()  # doctest: +SKIP
>>> report.failed, report["duplicates"].count           # doctest: +SKIP
(True, 3)
>>> print(report)                                         # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .policy import CHECK_BY_NAME, CHECKS, Policy

#: How many offending rows a check keeps for the report.
SHOWN_ROWS = 5


class DataWarning(UserWarning):
    """Bad bars were dropped, repaired or kept on a feed's policy (the message is the summary)."""


@dataclass
class CheckResult:
    """One check of a report.

    ``count`` is the number of offending rows (for gaps: of steps larger than
    the interval); ``rows`` the first few, each a dict with ``row`` (the
    position in the loaded input), ``symbol``, ``ts`` and the values that
    failed; ``action`` what was done: ``"ok"``, ``"error"``, ``"dropped"``,
    ``"repaired"``, ``"warned"`` or ``"ignored"``.
    """

    check: str
    policy: str
    count: int = 0
    rows: list[dict[str, Any]] = field(default_factory=list)
    action: str = "ok"
    detail: str = ""
    #: rows removed by the action (a repair may drop rows it cannot fill)
    dropped: int = 0

    @property
    def finds(self) -> str:
        return CHECK_BY_NAME[self.check].finds

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "policy": self.policy,
            "count": self.count,
            "action": self.action,
            "dropped": self.dropped,
            "detail": self.detail,
            "rows": [{k: _plain(v) for k, v in r.items()} for r in self.rows],
        }


def _plain(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, float) and value != value:
        return "nan"
    return value


@dataclass
class ValidationReport:
    """Every check's result for one feed, in the order the checks run."""

    feed: str
    rows_in: int = 0
    rows_out: int = 0
    checks: list[CheckResult] = field(default_factory=list)

    @classmethod
    def empty(cls, feed: str, policy: Policy, rows: int) -> ValidationReport:
        return cls(
            feed,
            rows,
            rows,
            [CheckResult(c.name, getattr(policy, c.name)) for c in CHECKS],
        )

    def __getitem__(self, check: str) -> CheckResult:
        for c in self.checks:
            if c.check == check:
                return c
        raise KeyError(check)

    @property
    def clean(self) -> bool:
        """No check found anything."""
        return all(c.count == 0 for c in self.checks)

    @property
    def failed(self) -> bool:
        """A check whose policy is ``"error"`` found something: ``load()`` raises."""
        return any(c.action == "error" for c in self.checks)

    @property
    def reported(self) -> list[CheckResult]:
        """Checks that found something and were not told to ignore it."""
        return [c for c in self.checks if c.count and c.action != "ignored"]

    def summary(self) -> str:
        """One line: which checks found how many rows and what was done."""
        if self.clean:
            return f"{self.feed}: {self.rows_in:,} rows, every check passed"
        parts = []
        for c in self.checks:
            if not c.count:
                continue
            what = f"{c.check}: {c.count:,} ({c.action}"
            if c.dropped and c.action != "dropped":
                what += f", {c.dropped:,} dropped"
            parts.append(what + ")")
        return f"{self.feed}: {self.rows_in:,} rows in, {self.rows_out:,} out; " + "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "feed": self.feed,
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "clean": self.clean,
            "failed": self.failed,
            "checks": [c.to_dict() for c in self.checks],
        }

    def __rich__(self) -> Any:
        from rich.table import Table

        title = f"{self.feed}: {self.rows_in:,} rows in, {self.rows_out:,} out"
        table = Table(title=title, title_justify="left")
        table.add_column("check")
        table.add_column("finds")
        table.add_column("policy")
        table.add_column("count", justify="right")
        table.add_column("action")
        table.add_column("first rows")
        styles = {
            "error": "bold red",
            "dropped": "yellow",
            "repaired": "yellow",
            "warned": "yellow",
        }
        for c in self.checks:
            first = "\n".join(_row_text(r) for r in c.rows)
            if c.detail:
                first = f"{c.detail}\n{first}" if first else c.detail
            action = c.action + (
                f" ({c.dropped:,} dropped)" if c.dropped and c.action != "dropped" else ""
            )
            table.add_row(
                c.check,
                c.finds,
                c.policy,
                f"{c.count:,}",
                f"[{styles[c.action]}]{action}[/]" if c.action in styles else action,
                first,
            )
        return table

    def __str__(self) -> str:
        import io

        from rich.console import Console

        console = Console(width=160, file=io.StringIO(), color_system=None)
        console.print(self)
        text: str = console.file.getvalue()  # type: ignore[attr-defined]
        return text


def _row_text(r: dict[str, Any]) -> str:
    head = []
    if r.get("row") is not None:
        head.append(f"row {r['row']}")
    if r.get("symbol") is not None:
        head.append(str(r["symbol"]))
    if r.get("ts") is not None:
        head.append(str(_plain(r["ts"])))
    rest = [f"{k}={_plain(v)}" for k, v in r.items() if k not in ("row", "symbol", "ts")]
    return " ".join(head + rest)

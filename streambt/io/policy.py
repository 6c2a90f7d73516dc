"""What to do about each kind of bad bar: the validation policy of a feed.

Every check has a policy: ``"error"`` (raise :class:`~streambt.errors.DataError`
with the first offending row), ``"drop"`` (remove the offending rows),
``"repair"`` (fix them by the rule in :data:`CHECKS`), ``"warn"`` (keep them
as they are), and for the checks that change no row, ``"ignore"``. Anything
but ``"error"`` and ``"ignore"`` is reported with a warning: never silent.

Examples
--------
>>> Policy(gaps="error", duplicates="repair").duplicates
'repair'
>>> Policy.coerce({"nulls": "drop"}).nulls
'drop'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from ..errors import InvalidParameterError, did_you_mean

POLICIES = ("error", "drop", "repair", "warn", "ignore")
_ALL = ("error", "drop", "repair", "warn")


@dataclass(frozen=True)
class Check:
    """One validation check: its name, what it finds, its default and the policies it accepts."""

    name: str
    finds: str
    default: str
    allowed: tuple[str, ...]
    repair: str


#: The checks, in the order they are applied. The order matters: time checks
#: first, so that value repairs (which look at the previous bar) see bars in
#: time order; gaps last, so that they see the rows that remain.
CHECKS: tuple[Check, ...] = (
    Check(
        "timezone",
        "naive or non-UTC timestamps in the raw input",
        "warn",
        ("error", "warn", "ignore"),
        "-",
    ),
    Check(
        "duplicates",
        "the same (symbol, ts) more than once",
        "error",
        _ALL,
        "keep the last row in input order (drop: remove every copy)",
    ),
    Check(
        "unsorted",
        "a bar earlier than a previous bar of its symbol",
        "error",
        _ALL,
        "sort by (symbol, ts) (drop: remove the late bars; warn: sorted as well)",
    ),
    Check(
        "nulls",
        "NaN, null or infinite open/high/low/close/volume, or a null ts",
        "error",
        _ALL,
        "close and open from the previous close, high/low from max/min(open, close), volume 0",
    ),
    Check(
        "non_positive",
        "a zero or negative price",
        "error",
        _ALL,
        "the price is taken as missing and filled as for nulls",
    ),
    Check("negative_volume", "a negative volume", "error", ("error", "drop", "warn"), "-"),
    Check("high_low", "high < low", "error", _ALL, "swap high and low"),
    Check(
        "high_open_close",
        "high < max(open, close)",
        "error",
        _ALL,
        "high = max(open, close)",
    ),
    Check(
        "low_open_close",
        "low > min(open, close)",
        "error",
        _ALL,
        "low = min(open, close)",
    ),
    Check(
        "gaps",
        "a step between bars larger than the bar interval",
        "warn",
        ("error", "warn", "ignore"),
        "-",
    ),
)
CHECK_BY_NAME = {c.name: c for c in CHECKS}


@dataclass(frozen=True)
class Policy:
    """The policy of each check (see :data:`CHECKS`); defaults fail on anything that changes results.

    Parameters
    ----------
    timezone, gaps : "warn" (default), "error" or "ignore"
    duplicates, unsorted, nulls, non_positive, high_low, high_open_close, low_open_close :
        "error" (default), "drop", "repair" or "warn"
    negative_volume : "error" (default), "drop" or "warn"

    Examples
    --------
    >>> feed = sb.feeds.from_csv("bars.csv", policy=Policy(duplicates="repair"))  # doctest: +SKIP
    """

    timezone: str = "warn"
    duplicates: str = "error"
    unsorted: str = "error"
    nulls: str = "error"
    non_positive: str = "error"
    negative_volume: str = "error"
    high_low: str = "error"
    high_open_close: str = "error"
    low_open_close: str = "error"
    gaps: str = "warn"

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            check = CHECK_BY_NAME[f.name]
            if value not in check.allowed:
                hint = did_you_mean(value, check.allowed) if isinstance(value, str) else ""
                raise InvalidParameterError(
                    f"policy {f.name}={value!r}: the {f.name} check accepts "
                    f"{', '.join(repr(a) for a in check.allowed)}.{hint}"
                )

    @classmethod
    def coerce(cls, value: Policy | Mapping[str, str] | None) -> Policy:
        """A :class:`Policy` from ``None`` (the defaults), a dict ``{check: policy}`` or a Policy."""
        if value is None:
            return cls()
        if isinstance(value, Policy):
            return value
        if not isinstance(value, Mapping):
            raise InvalidParameterError(
                f"policy must be a dict such as {{'gaps': 'error'}} or a Policy, got {type(value).__name__}"
            )
        for key in value:
            if key not in CHECK_BY_NAME:
                raise InvalidParameterError(
                    f"unknown validation check {key!r} in policy; the checks are "
                    f"{', '.join(CHECK_BY_NAME)}.{did_you_mean(str(key), CHECK_BY_NAME)}"
                )
        return cls(**dict(value))

    def changes(self) -> dict[str, str]:
        """The entries that differ from the defaults (what identifies this policy)."""
        default = Policy()
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if getattr(self, f.name) != getattr(default, f.name)
        }

    def to_params(self) -> dict[str, Any]:
        return self.changes()

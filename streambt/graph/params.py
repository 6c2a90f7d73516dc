"""Symbolic parameters: a node parameter whose value a sweep supplies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SweepParam:
    """A named placeholder for a parameter value, filled by ``cb.sweep({...})``.

    Examples
    --------
    >>> fast = cb.add_indicator(sb.ind.sma, data["close"], window=sb.param("fast"))  # doctest: +SKIP
    >>> cb.sweep({"fast": range(5, 50, 5)})                                            # doctest: +SKIP
    """

    name: str
    default: Any = None

    def to_params(self) -> dict[str, Any]:
        return {"sweep": self.name}

    def __str__(self) -> str:
        return self.name


def param(name: str, default: Any = None) -> SweepParam:
    """A parameter to sweep over; ``default`` is used when the run has no sweep."""
    if not isinstance(name, str) or not name.isidentifier():
        from ..errors import InvalidParameterError

        raise InvalidParameterError(
            f"param({name!r}): the name must be an identifier such as 'fast'"
        )
    return SweepParam(name, default)

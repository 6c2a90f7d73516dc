"""The one exception hierarchy of streambt.

Every message says what is wrong, where (the node and the call that declared
it), what was expected and what was given, and how to fix it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class StreambtError(Exception):
    """Root of every error streambt raises on purpose."""


class GraphError(StreambtError):
    """A node or graph was declared wrongly (bad parameter, wrong input kind)."""


class InvalidParameterError(GraphError, ValueError):
    """A parameter of an op is out of range or of the wrong type."""


class InvalidInputError(GraphError, TypeError):
    """An op was given an input of the wrong kind."""


class DataError(StreambtError, ValueError):
    """Input data is malformed (missing columns, bad prices, unsorted time)."""


class BackendError(StreambtError):
    """A backend is unknown, not installed, or cannot run a plan."""


class UnsupportedError(BackendError):
    """A backend cannot run an op in the requested mode."""


class ManifestError(StreambtError, ValueError):
    """A TOML run manifest is malformed."""


def did_you_mean(given: str, choices: Iterable[str]) -> str:
    """Return ' Did you mean "x"?' when a close match exists, else ''."""
    match = difflib.get_close_matches(given, list(choices), n=1, cutoff=0.6)
    return f' Did you mean "{match[0]}"?' if match else ""

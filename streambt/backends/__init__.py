"""Backends by name. Each engine is one module, loaded only when asked for."""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from ..errors import BackendError, did_you_mean
from .base import Backend, Support

#: backend name -> (module, class, pip extra that installs its engine)
REGISTRY: dict[str, tuple[str, str, str | None]] = {
    "duckdb": ("streambt.backends.duckdb", "DuckDBBackend", None),
    "polars": ("streambt.backends.polars", "PolarsBackend", "polars"),
    "spark": ("streambt.backends.spark", "SparkBackend", "spark"),
    "flink": ("streambt.backends.flink", "FlinkBackend", "flink"),
}


def get_backend(name: str, **options: Any) -> Backend:
    """Instantiate the backend called ``name`` with its ``options``.

    Examples
    --------
    >>> get_backend("duckdb").name
    'duckdb'
    """
    if not isinstance(name, str) or name not in REGISTRY:
        known = ", ".join(sorted(REGISTRY))
        raise BackendError(
            f"Unknown backend {name!r}.{did_you_mean(str(name), REGISTRY)} Known backends: {known}"
        )
    module_name, cls_name, extra = REGISTRY[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        hint = f'pip install "streambt[{extra}]"' if extra else "reinstall streambt"
        raise BackendError(
            f"backend {name!r} needs packages that are not installed ({exc.name}); run {hint}"
        ) from exc
    cls = getattr(module, cls_name)
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        takes = ", ".join(accepted) or "no options"
        raise BackendError(f"backend {name!r} has no option {unknown[0]!r}; it takes {takes}")
    backend: Backend = cls(**options)
    return backend


__all__ = ["REGISTRY", "Backend", "Support", "get_backend"]

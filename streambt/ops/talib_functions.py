"""Any TA-Lib function as a node: ``sb.ind.talib("MACD")``.

:func:`talib` builds one :class:`TALibFunction` subclass per TA-Lib function,
once per process (the same name always gives the same class, so node ids are
stable), from what ``talib.abstract`` says about the function: its inputs,
its parameters with TA-Lib's own names and defaults, and its outputs.

Calling conventions follow TA-Lib's input kinds:

- a single ``real`` input (SMA, RSI, MACD, ...) takes a column ref;
- two real inputs (BETA, CORREL, ADD, ...: ``real0``, ``real1``; MAVP:
  ``real``, ``periods``) take two column refs;
- inputs that are price fields (ATR: high, low, close; OBV: close, volume;
  the CDL patterns: open, high, low, close) take the data ref.

The op version carries the TA-Lib C library's version string and the Python
wrapper's version, so node ids (and cached factors) computed with another
TA-Lib never mix with these.
"""

from __future__ import annotations

import importlib
import math
import threading
from collections.abc import Mapping
from typing import Any, ClassVar

from ..errors import InvalidParameterError, did_you_mean
from .base import Op, OpKind, Param

__all__ = ["TALibFunction", "talib", "talib_version"]

#: bump when the meaning of a TA-Lib node changes on streambt's side
OP_VERSION = 1

# talib.abstract's input-name keys for real (non-price) inputs -> streambt input roles,
# named like the arguments of talib's function API (talib.BETA(real0, real1)).
_REAL_ROLES = {"price": "real", "price0": "real0", "price1": "real1", "periods": "periods"}

# TA_OptInputParameterType: 0 real range, 1 real list, 2 integer range, 3 integer list
_INTEGER_TYPES = (2, 3)
_INT_MIN = -(2**31) + 1  # -2**31 is TA-Lib's "use the default" sentinel
_INT_MAX = 2**31 - 1

_lock = threading.Lock()
_classes: dict[str, type[TALibFunction]] = {}


def _lib() -> Any:
    try:
        import talib as lib
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise InvalidParameterError(
            'sb.ind.talib needs TA-Lib: pip install "streambt[talib]"'
        ) from e
    return lib


def talib_version() -> str:
    """``"<wrapper version>/<C library version string>"``, part of every TA-Lib op's version."""
    lib = _lib()
    ta = lib.__ta_version__
    ta = ta.decode() if isinstance(ta, bytes) else str(ta)
    return f"talib-{lib.__version__}/ta-lib-{ta}"


def _module(name: str) -> Any:
    # talib's Cython modules carry no type information
    return importlib.import_module(name)


def _lookback(function: str, params: Mapping[str, Any]) -> int:
    """TA-Lib's lookback for ``params``, or -1 when TA-Lib rejects them."""
    f = _module("talib.abstract").Function(function)
    try:
        f.set_parameters(**params)
    except (TypeError, ValueError, OverflowError):
        return -1
    return int(f.lookback)


def _int_check(value: Any) -> str | None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not float(value).is_integer()
    ):
        return "must be an integer"
    return None if _INT_MIN <= value <= _INT_MAX else "must fit a 32-bit integer"


def _real_check(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return "must be a finite number"
    return None


def _unstable_check(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return "must be None or an integer >= 0"
    return None


class TALibFunction(Op):
    """Base of the classes :func:`talib` makes; one subclass per TA-Lib function.

    Besides TA-Lib's own parameters every such op takes ``stream_unstable``:
    the extra rows of history its streaming kernel keeps beyond TA-Lib's
    lookback (``None``: the default of the function's streaming class, see
    ``docs/talib.md``). Batch results do not depend on it.
    """

    kind = OpKind.RECURSIVE
    #: the TA-Lib function name, e.g. ``"MACD"``
    function: ClassVar[str]
    #: TA-Lib's group, e.g. ``"Momentum Indicators"``
    group: ClassVar[str]
    #: TA-Lib's parameter names, in TA-Lib's order
    talib_params: ClassVar[tuple[str, ...]] = ()
    #: TA-Lib's function flags, e.g. ``("Function has an unstable period",)``
    flags: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def validate(cls, given: Mapping[str, Any], call: str) -> dict[str, Any]:
        known = [p.name for p in cls.params]
        for name in given:
            if name not in known:
                raise InvalidParameterError(
                    f"{call}: unknown parameter {name!r}.{did_you_mean(str(name), known)} "
                    f"{cls.short} takes {', '.join(known)}"
                )
        out = super().validate(given, call)
        ta = cls.talib_arguments(out)
        if _lookback(cls.function, ta) < 0:
            raise InvalidParameterError(_explain_rejected(cls, ta, given, call))
        return out

    @classmethod
    def talib_arguments(cls, params: Mapping[str, Any]) -> dict[str, Any]:
        """The keyword arguments for the ``talib`` function: ``params`` minus streambt's own,
        TA-Lib's defaults for those missing."""
        defaults = {p.name: p.default for p in cls.params}
        return {name: params.get(name, defaults[name]) for name in cls.talib_params}

    @classmethod
    def lookback(cls, params: Mapping[str, Any]) -> int:
        return _lookback(cls.function, cls.talib_arguments(params)) + 1


def _explain_rejected(
    cls: type[TALibFunction], ta: dict[str, Any], given: Mapping[str, Any], call: str
) -> str:
    """Which parameter TA-Lib rejects and, for integers, the range it accepts."""
    defaults = {p.name: p.default for p in cls.params if p.name in cls.talib_params}
    kinds = {p.name: p.integer for p in cls.params}
    for name in cls.talib_params:
        if name not in given:
            continue
        alone = {**defaults, name: ta[name]}
        if _lookback(cls.function, alone) >= 0:
            continue
        value, default = ta[name], defaults[name]
        if not kinds[name]:
            return (
                f"{call}: {name}={value!r} is outside what TA-Lib's {cls.function} accepts; "
                f"pass e.g. {name}={default!r} (TA-Lib's default)"
            )
        lo, hi = _int_range(cls.function, defaults, name)
        return (
            f"{call}: {name} must be an integer in [{lo}, {hi}] for TA-Lib's {cls.function}, "
            f"got {value!r}; pass e.g. {name}={default!r} (TA-Lib's default)"
        )
    shown = ", ".join(f"{k}={v!r}" for k, v in ta.items())
    return (
        f"{call}: TA-Lib's {cls.function} rejects this combination of parameters ({shown}); "
        f"its defaults are {', '.join(f'{k}={v!r}' for k, v in defaults.items())}"
    )


def _int_range(function: str, defaults: dict[str, Any], name: str) -> tuple[int, int]:
    """The integers TA-Lib accepts for ``name`` (others at their defaults), by bisection."""

    def ok(v: int) -> bool:
        return _lookback(function, {**defaults, name: v}) >= 0

    def edge(good: int, bad: int) -> int:
        while abs(bad - good) > 1:
            mid = (good + bad) // 2
            good, bad = (mid, bad) if ok(mid) else (good, mid)
        return good

    start = int(defaults[name])
    lo = _INT_MIN if ok(_INT_MIN) else edge(start, _INT_MIN)
    hi = _INT_MAX if ok(_INT_MAX) else edge(start, _INT_MAX)
    return lo, hi


def _describe(function: str) -> dict[str, Any]:
    info = _module("talib.abstract").Function(function).info
    roles: list[str] = []
    fields: list[str] = []
    for key, value in info["input_names"].items():
        if key == "prices":
            fields.extend(value)
        elif isinstance(value, str) and key in _REAL_ROLES:
            roles.append(_REAL_ROLES[key])
            # a real input next to price fields (OBV's close) is read from the data ref
            fields.append(value)
        else:  # pragma: no cover - a TA-Lib input kind this module does not know
            raise InvalidParameterError(
                f"sb.ind.talib({function!r}): unsupported TA-Lib input {key!r}"
            )
    uses_data = any(k == "prices" for k in info["input_names"])
    params: list[Param] = []
    for i, (name, default) in enumerate(info["parameters"].items()):
        meta = _module("talib._ta_lib")._ta_getOptInputParameterInfo(function.encode(), i)
        integer = meta["type"] in _INTEGER_TYPES
        what = meta.get("help") or meta.get("display_name") or name
        params.append(
            Param(
                name,
                _int_check if integer else _real_check,
                default=default,
                fix=f"pass e.g. {name}={default!r}, TA-Lib's default ({what})",
                integer=integer,
            )
        )
    params.append(
        Param(
            "stream_unstable",
            _unstable_check,
            default=None,
            fix="pass None (the default of the function's streaming class) or rows >= 0",
        )
    )
    return {
        "inputs": () if uses_data else tuple(roles),
        "data_fields": tuple(fields) if uses_data else (),
        "outputs": tuple(info["output_names"]),
        "params": tuple(params),
        "talib_params": tuple(info["parameters"]),
        "group": info["group"],
        "display_name": info["display_name"],
        "flags": tuple(info["function_flags"] or ()),
    }


def _example(name: str, spec: Mapping[str, Any]) -> str:
    if spec["data_fields"]:
        args = "data"
    else:
        args = ", ".join(
            'data["close"]' if i == 0 else 'data["open"]' for i in range(len(spec["inputs"]))
        )
    kw = "".join(
        f", {p.name}={p.default!r}" for p in spec["params"] if p.name in spec["talib_params"]
    )
    return f'cb.add_indicator(sb.ind.talib("{name}"), {args}{kw})'


def talib(name: str) -> type[TALibFunction]:
    """The op class of TA-Lib function ``name`` (e.g. ``"MACD"``), made once per process.

    The class takes TA-Lib's inputs, parameters (names and defaults of
    ``talib.abstract.Function(name).info["parameters"]``, validated by
    TA-Lib's own lookback check) and outputs (``macd``, ``macdsignal``,
    ``macdhist`` for MACD). Batch results equal calling ``talib.<NAME>``
    on the whole series; streaming keeps a bounded history, exact or within
    a stated tolerance depending on the function (``docs/talib.md``).

    Parameters
    ----------
    name : str
        A name from ``talib.get_functions()``, case-insensitive.

    Examples
    --------
    >>> macd = cb.add_indicator(sb.ind.talib("MACD"), data["close"], fastperiod=12)  # doctest: +SKIP
    >>> atr = cb.add_indicator(sb.ind.talib("ATR"), data, timeperiod=14)  # doctest: +SKIP
    >>> res.values(macd["macdsignal"])  # doctest: +SKIP
    """
    lib = _lib()
    if not isinstance(name, str):
        raise InvalidParameterError(
            f"sb.ind.talib({name!r}): pass a TA-Lib function name such as 'MACD'"
        )
    key = name.strip().upper()
    with _lock:
        cls = _classes.get(key)
        if cls is not None:
            return cls
        known = lib.get_functions()
        if key not in known:
            raise InvalidParameterError(
                f"sb.ind.talib({name!r}): TA-Lib has no function {key!r}.{did_you_mean(key, known)} "
                "talib.get_functions() lists the names"
            )
        spec = _describe(key)
        qualname = f"TALib_{key}"
        doc = (
            f"TA-Lib's {key} ({spec['display_name']}, {spec['group']}) as a node.\n\n"
            "Examples\n--------\n"
            f">>> ref = {_example(key, spec)}  # doctest: +SKIP\n"
        )
        namespace: dict[str, Any] = {
            "__module__": __name__,
            "__qualname__": qualname,
            "__doc__": doc,
            "kind": OpKind.RECURSIVE,
            "short": f"talib_{key.lower()}",
            # A string: node ids hash it, so results from another TA-Lib build never mix.
            "version": f"{OP_VERSION}+{talib_version()}",
            "function": key,
            "group": spec["group"],
            "flags": spec["flags"],
            "inputs": spec["inputs"],
            "data_fields": spec["data_fields"],
            "outputs": spec["outputs"],
            "params": spec["params"],
            "talib_params": spec["talib_params"],
            "label_params": spec["talib_params"],
        }
        cls = type(qualname, (TALibFunction,), namespace)
        # The kernel registry is looked up by op name when a plan runs; TA-Lib is an
        # optional extra, so its kernels register here rather than in kernels/__init__.
        from ..kernels import talib_functions as _kernels

        _kernels.kernel_class(key, spec["data_fields"] or spec["inputs"], spec["outputs"])
        _classes[key] = cls
        return cls


def __getattr__(name: str) -> Any:
    # Lets pickle find the classes made by talib() under their qualified names.
    if name.startswith("TALib_"):
        try:
            return talib(name.removeprefix("TALib_"))
        except InvalidParameterError as e:
            raise AttributeError(name) from e
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

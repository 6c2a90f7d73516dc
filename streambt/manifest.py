"""A TOML manifest describing a whole run: data, indicators, strategies, broker.

Example (``examples/sma_cross.toml``)::

    [run]
    backend = "duckdb"
    mode = "batch"

    [broker]
    cash = 10000
    commission = 0.001

    [[data]]
    id = "prices"
    kind = "synthetic"          # or "csv" / "parquet" with path = "..."
    symbol = "DEMO"
    bars = 2500

    [indicators]
    fast  = { op = "sma", input = "prices.close", window = 10 }
    slow  = { op = "sma", input = "prices.close", window = 30 }
    pulse = { op = "cross", inputs = ["fast", "slow"] }

    [[strategies]]
    name = "sma_cross"
    signal = "pulse"
    allocation = { kind = "all_in", long_only = true }

The portfolio broker (``examples/sma_brackets.toml``, docs/broker.md): a
strategy may give ``sizer = { kind = "risk", amount = 0.01 }`` and
``stop_loss``, ``take_profit``, ``trailing_stop``, ``weight``, ``entry``,
``entry_offset``, ``tif``, ``long_only``, ``atr`` (an indicator name),
``symbols``; ``[broker]`` may add ``fees = { model = "percent", rate = 0.001 }``,
``slippage = { model = "bps", n = 2 }``, ``margin``, ``priority``,
``volume_share``, ``stops_same_bar``; a ``[portfolio]`` table takes ``cash``,
``max_gross_exposure``, ``max_symbol_notional``, ``rebalance_every``, ``name``
and ``[portfolio.instruments.SYMBOL]`` tables.

References: ``prices.close`` is a field of a data entry, ``fast`` an indicator,
``macd.signal`` one output of a multi-output indicator. Relative paths are
relative to the manifest's folder.
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import alloc as alloc_ns
from . import ind, sig
from .cerebro import Cerebro
from .errors import ManifestError, StreambtError, did_you_mean
from .graph import Ref
from .graph.params import param
from .io import feeds
from .ops.base import Op
from .sim import sizers

OPS: dict[str, type[Op]] = {
    name: obj
    for module in (ind, sig)
    for name in module.__all__
    if isinstance(obj := getattr(module, name), type) and issubclass(obj, Op)
}
ALLOCATIONS: dict[str, Callable[..., Any]] = {
    "all_in": alloc_ns.all_in,
    "fixed": alloc_ns.fixed,
    "target_percent": alloc_ns.target_percent,
}
#: sizer = { kind = "risk", amount = 0.01 }: every sizer takes its one ``amount``
SIZERS: dict[str, Callable[..., Any]] = {
    name: functools.partial(sizers.Sizer, name) for name in sizers.SIZERS
}
DATA_KINDS = ("csv", "parquet", "synthetic")
#: [[strategies]] keys that use the portfolio broker (docs/broker.md); "$name" sweeps one
PORTFOLIO_OPTIONS = frozenset(
    {
        "stop_loss",
        "take_profit",
        "trailing_stop",
        "weight",
        "entry",
        "entry_offset",
        "tif",
        "long_only",
        "atr",
        "symbols",
    }
)
STRATEGY_KEYS = frozenset({"name", "signal", "allocation", "sizer"}) | PORTFOLIO_OPTIONS
V1_BROKER_KEYS = frozenset({"cash", "commission", "periods_per_year"})
BROKER_KEYS = V1_BROKER_KEYS | {
    "fees",
    "slippage",
    "margin",
    "priority",
    "volume_share",
    "stops_same_bar",
}


def _swept(value: Any) -> Any:
    """``"$sl"`` -> ``sb.param("sl")``: a value the [sweep] table supplies."""
    return param(value[1:]) if isinstance(value, str) and value.startswith("$") else value


@dataclass
class Manifest:
    """A loaded manifest: the built Cerebro and the run settings."""

    path: Path
    cerebro: Cerebro
    backend: str
    mode: str
    refs: dict[str, Ref]


def load_manifest(path: str | Path) -> Manifest:
    """Read a TOML manifest and build its :class:`Cerebro`.

    Examples
    --------
    >>> m = load_manifest("examples/sma_cross.toml")   # doctest: +SKIP
    >>> res = m.cerebro.run(m.backend, m.mode)           # doctest: +SKIP
    """
    p = Path(path)
    if not p.is_file():
        raise ManifestError(f"manifest {p} does not exist; pass the path of a .toml file")
    try:
        doc = tomllib.loads(p.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(f"{p}: not valid TOML ({exc})") from exc
    builder = _Builder(p, doc)
    try:
        return builder.build()
    except ManifestError:
        raise
    except StreambtError as exc:
        raise ManifestError(f"{p}: {exc}") from exc


class _Builder:
    def __init__(self, path: Path, doc: dict[str, Any]) -> None:
        self.path = path
        self.doc = doc
        self.refs: dict[str, Ref] = {}
        self.resolving: set[str] = set()

    def fail(self, where: str, message: str) -> ManifestError:
        return ManifestError(f"{self.path}: [{where}] {message}")

    def build(self) -> Manifest:
        known = {"run", "broker", "portfolio", "data", "indicators", "strategies", "sweep"}
        for key in self.doc:
            if key not in known:
                raise self.fail(
                    key,
                    f"unknown table.{did_you_mean(key, known)} Tables: {', '.join(sorted(known))}",
                )
        run = self.doc.get("run", {})
        broker = self.doc.get("broker", {})
        self.cb = Cerebro(
            cash=broker.get("cash", 10_000.0),
            commission=broker.get("commission", 0.0),
            periods_per_year=broker.get("periods_per_year"),
        )
        data = self.doc.get("data")
        if isinstance(data, dict):
            raise self.fail(
                "data",
                "data must be an array of tables: write [[data]] (two brackets) for each feed",
            )
        if not data:
            raise self.fail(
                "data",
                "no data; add a [[data]] entry with id, kind and path (or kind = 'synthetic')",
            )
        for i, entry in enumerate(data):
            self._data(i, entry)
        self.indicators: dict[str, Any] = self.doc.get("indicators", {})
        for name in self.indicators:
            self._indicator(name)
        strategies = self.doc.get("strategies", [])
        for i, entry in enumerate(strategies):
            self._strategy(i, entry)
        self._portfolio_broker(broker, self.doc.get("portfolio"))
        sweep = self.doc.get("sweep")
        if sweep is not None:
            if not isinstance(sweep, dict) or not all(isinstance(v, list) for v in sweep.values()):
                raise self.fail("sweep", "give each swept parameter a list: fast = [5, 10, 20]")
            try:
                self.cb.sweep(sweep)
            except StreambtError as exc:
                raise self.fail("sweep", str(exc)) from exc
        return Manifest(
            self.path, self.cb, run.get("backend", "duckdb"), run.get("mode", "batch"), self.refs
        )

    def _data(self, i: int, entry: dict[str, Any]) -> None:
        where = f"data.{i}"
        ident = entry.get("id")
        if not isinstance(ident, str):
            raise self.fail(where, "every data entry needs an id, e.g. id = 'prices'")
        kind = entry.get("kind")
        if kind not in DATA_KINDS:
            raise self.fail(where, f"kind must be one of {', '.join(DATA_KINDS)}, got {kind!r}")
        symbol = entry.get("symbol")
        if kind == "synthetic":
            opts = {
                k: entry[k] for k in ("bars", "seed", "start", "interval", "price") if k in entry
            }
            feed = feeds.synthetic(symbol or "SYN", **opts)
        else:
            if "path" not in entry:
                raise self.fail(where, f"a {kind} entry needs path = '...'")
            path = Path(entry["path"])
            path = path if path.is_absolute() else self.path.parent / path
            feed = (
                feeds.from_csv(path, symbol) if kind == "csv" else feeds.from_parquet(path, symbol)
            )
        self.refs[ident] = self.cb.add_data(feed)

    def _resolve(self, where: str, text: Any) -> Ref:
        if not isinstance(text, str):
            raise self.fail(
                where,
                f"a reference must be a string such as 'prices.close' or 'fast', got {text!r}",
            )
        head, _, field = text.partition(".")
        if head not in self.refs and head in self.indicators:
            self._indicator(head)
        if head not in self.refs:
            names = [*self.refs, *self.indicators]
            raise self.fail(
                where,
                f"unknown reference {head!r}.{did_you_mean(head, names)} Known: {', '.join(names)}",
            )
        ref = self.refs[head]
        return ref[field] if field else ref

    def _indicator(self, name: str) -> None:
        if name in self.refs:
            return
        where = f"indicators.{name}"
        if name in self.resolving:
            raise self.fail(where, "indicators refer to each other in a cycle")
        self.resolving.add(name)
        spec = dict(self.indicators[name])
        op_name = spec.pop("op", None)
        if op_name == "talib":
            # { op = "talib", function = "MACD", input = "prices.close", fastperiod = 12 }
            function = spec.pop("function", None)
            if not isinstance(function, str):
                raise self.fail(
                    where, "op = 'talib' needs function = 'NAME', e.g. function = 'MACD'"
                )
            try:
                op: type[Op] = ind.talib(function)
            except StreambtError as exc:
                raise self.fail(where, str(exc)) from exc
        elif op_name not in OPS:
            raise self.fail(
                where,
                f"unknown op {op_name!r}.{did_you_mean(str(op_name), OPS)} Ops: {', '.join(sorted(OPS))}",
            )
        else:
            op = OPS[op_name]
        if "input" in spec and "inputs" in spec:
            raise self.fail(where, "give either input = '...' or inputs = [...], not both")
        raw = spec.pop("inputs", None) or [spec.pop("input", None)]
        # "$fast" names a swept parameter: [sweep] fast = [5, 10, 20]
        spec = {
            k: param(v[1:]) if isinstance(v, str) and v.startswith("$") else v
            for k, v in spec.items()
        }
        inputs = [self._resolve(where, r) for r in raw]
        try:
            self.refs[name] = self.cb.add_indicator(op, *inputs, **spec)
        except StreambtError as exc:
            raise self.fail(where, str(exc)) from exc
        self.resolving.discard(name)

    def _strategy(self, i: int, entry: dict[str, Any]) -> None:
        where = f"strategies.{i}"
        unknown = sorted(set(entry) - STRATEGY_KEYS)
        if unknown:
            raise self.fail(
                where,
                f"unknown key {unknown[0]!r}.{did_you_mean(unknown[0], STRATEGY_KEYS)} "
                f"Keys: {', '.join(sorted(STRATEGY_KEYS))}",
            )
        signal = self._resolve(where, entry.get("signal"))
        if "sizer" in entry and "allocation" in entry:
            raise self.fail(where, "give either allocation = {...} or sizer = {...}, not both")
        table, kinds = ("sizer", SIZERS) if "sizer" in entry else ("allocation", ALLOCATIONS)
        spec = entry.get(table, "all_in")
        if isinstance(spec, str):
            spec = {"kind": spec}
        spec = dict(spec)
        kind = spec.pop("kind", None)
        if kind not in kinds:
            raise self.fail(where, f"{table} kind must be one of {', '.join(kinds)}, got {kind!r}")
        try:
            sizing = kinds[kind](**spec)
        except TypeError as exc:
            raise self.fail(where, f"bad {table} parameters for {kind}: {exc}") from exc
        options = {k: _swept(v) for k, v in entry.items() if k in PORTFOLIO_OPTIONS}
        if "atr" in options:
            options["atr"] = self._resolve(where, options["atr"])
        try:
            self.refs[entry.get("name", f"strategy_{i}")] = self.cb.add_strat(
                signal, sizing, name=entry.get("name"), **options
            )
        except StreambtError as exc:
            raise self.fail(where, str(exc)) from exc

    def _portfolio_broker(self, broker: dict[str, Any], portfolio: Any) -> None:
        """[broker] keys of the portfolio broker, and the [portfolio] table."""
        unknown = sorted(set(broker) - BROKER_KEYS)
        if unknown:
            raise self.fail(
                "broker",
                f"unknown key {unknown[0]!r}.{did_you_mean(unknown[0], BROKER_KEYS)} "
                f"Keys: {', '.join(sorted(BROKER_KEYS))}",
            )
        try:
            models = {k: v for k, v in broker.items() if k in BROKER_KEYS - V1_BROKER_KEYS}
            if models:
                self.cb.broker(**models)
            if portfolio is not None:
                if not isinstance(portfolio, dict):
                    raise self.fail("portfolio", "write [portfolio] as a table of settings")
                self.cb.portfolio(**portfolio)
        except TypeError as exc:
            raise self.fail("portfolio", f"bad setting: {exc}") from exc
        except ManifestError:
            raise
        except StreambtError as exc:
            raise self.fail("broker" if portfolio is None else "portfolio", str(exc)) from exc

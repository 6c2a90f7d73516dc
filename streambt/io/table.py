"""Database tables as feeds, through Ibis: DuckDB files, PostgreSQL, any Ibis backend.

The bar columns, the symbols and the time range are pushed down as one Ibis
``select``/``filter``, so the database sends only the rows and columns the
run needs, as Arrow.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pandas as pd
import pyarrow as pa

from ..errors import DataError
from ..graph.ids import digest
from .feeds import Feed, bar_columns

#: URL schemes accepted as a source, and the pip extra that brings the driver
SCHEMES = {"duckdb": "duckdb", "postgres": "postgres", "postgresql": "postgres"}


class TableFeed(Feed):
    kind = "table"
    pushdown = True

    def __init__(
        self,
        source: Any,
        table: str,
        symbol: str | None = None,
        *,
        symbols: Sequence[str] | None = None,
        **options: Any,
    ) -> None:
        if isinstance(source, str):
            scheme = urlsplit(source).scheme
            if scheme not in SCHEMES:
                from ..errors import did_you_mean

                raise DataError(
                    f"from_table({_safe_url(source)!r}): unknown URL scheme {scheme!r}; use "
                    f"duckdb:///path.db or postgres://user@host:5432/db.{did_you_mean(scheme, SCHEMES)}"
                )
        elif not hasattr(source, "table"):
            raise DataError(
                f"from_table expects an Ibis connection (e.g. ibis.duckdb.connect('bars.db')) or a "
                f"URL, got {type(source).__name__}"
            )
        if not isinstance(table, str) or not table:
            raise DataError(f"from_table: the table name must be a string, got {table!r}")
        self.source = source
        self.table = table
        self.symbol = symbol
        if isinstance(symbols, str):
            symbols = [symbols]
        self.symbols = sorted(set(symbols)) if symbols else None
        self._configure(**options)

    def _describe(self) -> dict[str, Any]:
        if isinstance(self.source, str):
            where = _safe_url(self.source)
        else:
            con = self.source
            where = f"{con.name}:{getattr(con, 'current_catalog', '')}.{getattr(con, 'current_database', '')}"
        d: dict[str, Any] = {
            "kind": self.kind,
            "source": where,
            "table": self.table,
            "symbol": self.symbol,
        }
        if self.symbols:
            d["symbols"] = self.symbols
        return d

    # -- reading --------------------------------------------------------------
    def _connect(self) -> tuple[Any, bool]:
        """The Ibis connection, and whether this feed opened it (and must close it)."""
        if not isinstance(self.source, str):
            return self.source, False
        import ibis

        scheme = urlsplit(self.source).scheme
        try:
            return ibis.connect(self.source), True
        except ImportError as exc:
            raise DataError(
                f'{self.name}: the {scheme} driver is missing; pip install "streambt[{SCHEMES[scheme]}]"'
            ) from exc
        except Exception as exc:  # drivers raise their own types
            raise DataError(
                f"{self.name}: cannot connect to {_safe_url(self.source)} ({exc})"
            ) from exc

    def _expr(
        self, con: Any, lo: pd.Timestamp | None, hi: pd.Timestamp | None, times_only: bool
    ) -> Any:
        import ibis

        try:
            t = con.table(self.table)
        except Exception as exc:  # each backend has its own "no such table"
            raise DataError(f"{self.name}: no table {self.table!r} ({exc})") from exc
        columns = bar_columns(list(t.columns), times_only)
        if columns is None:  # let normalization name what is missing
            return t.limit(0)
        ts_name = columns[1] if columns[0].lower() == "symbol" else columns[0]
        ts_type = t[ts_name].type()
        expr = t.select(*columns)
        preds = []
        if ts_type.is_timestamp():
            for bound, lower in ((lo, True), (hi, False)):
                if bound is None:
                    continue
                value = bound.to_pydatetime()
                if ts_type.timezone is None:
                    value = value.replace(tzinfo=None)  # naive times are UTC
                lit = ibis.literal(value, type=ts_type)
                preds.append(t[ts_name] >= lit if lower else t[ts_name] < lit)
        if self.symbols:
            sym = next((c for c in t.columns if c.lower() == "symbol"), None)
            if sym is None:
                raise DataError(
                    f"{self.name}: symbols={self.symbols} given but the table has no symbol column"
                )
            preds.append(t[sym].isin(self.symbols))
        return expr.filter(*preds) if preds else expr

    def _fetch(
        self, lo: pd.Timestamp | None, hi: pd.Timestamp | None, times_only: bool
    ) -> pa.Table:
        con, owned = self._connect()
        try:
            return self._expr(con, lo, hi, times_only).to_pyarrow()
        finally:
            if owned:
                con.disconnect()

    def sql(self, lo: Any = None, hi: Any = None) -> str:
        """The SQL this feed sends for ``[lo, hi)`` (to see what is pushed down)."""
        import ibis

        from .feeds import _instant

        con, owned = self._connect()
        try:
            return str(ibis.to_sql(self._expr(con, _instant(lo, "lo"), _instant(hi, "hi"), False)))
        finally:
            if owned:
                con.disconnect()

    def _read(self, lo: pd.Timestamp | None = None, hi: pd.Timestamp | None = None) -> pa.Table:
        return self._fetch(lo, hi, times_only=False)

    def _read_times(self, lo: pd.Timestamp | None, hi: pd.Timestamp | None) -> pa.Table:
        return self._fetch(lo, hi, times_only=True)

    def _content_digest(self) -> str:
        """Row count, time span and column sums of the selected rows, computed in the database:
        a cheap stand-in for hashing every row."""
        con, owned = self._connect()
        try:
            e = self._expr(con, self.start, self.end, times_only=False)
            aggs = {"n": e.count()}
            for i, c in enumerate(e.columns):
                col = e[c]
                if col.type().is_numeric():
                    aggs[f"s{i}"] = col.sum()
                elif col.type().is_timestamp():
                    aggs[f"lo{i}"], aggs[f"hi{i}"] = col.min(), col.max()
            row = e.aggregate(**aggs).to_pyarrow().to_pylist()[0]
        finally:
            if owned:
                con.disconnect()
        return digest(
            {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}
        )


def _safe_url(url: str) -> str:
    """The URL without its password (it goes into ids, names and messages)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}@" if parts.username else ""
    return urlunsplit((parts.scheme, user + host, parts.path, parts.query, parts.fragment))

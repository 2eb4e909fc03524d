"""Hot read statements run lean: rows as named tuples; on a plain sqlite3 connection the SQL is compiled once
and run straight on its cursor, a list parameter (IN) passed as one JSON array read through json_each."""

from __future__ import annotations

import json
import re
from collections import namedtuple
from functools import partial
from typing import Any

from sqlalchemy import Connection

_LIST = re.compile(r"\(__\[POSTCOMPILE_(\w+)\]\)")


def json_list(values) -> str:
    """A JSON array of the values: ids joined straight, anything else (text) through json.dumps."""
    values = list(values)
    try:
        return "[" + ",".join(map(int.__repr__, values)) + "]"
    except TypeError:
        return json.dumps(values)


class Lean:
    """A Core select whose rows come back as named tuples, cheaply on a plain sqlite3 connection (the same
    connection, the same transaction). Its IN lists are `bindparam(name, expanding=True)`; anywhere else
    (PostgreSQL, aiosqlite) it runs through SQLAlchemy as is."""

    def __init__(self, statement):
        self.statement = statement
        self.Row = namedtuple("Row", [str(c.key) for c in statement.selected_columns], rename=True)
        self._make = partial(tuple.__new__, self.Row)  # a row from a tuple, without a Python call
        self._sqlite: tuple | None = None

    def _compiled(self, dialect) -> tuple:
        compiled = self.statement.compile(dialect=dialect)
        lists = set(_LIST.findall(compiled.string))
        sql = _LIST.sub("(SELECT value FROM json_each(?))", compiled.string)
        processors = compiled._bind_processors
        order = [(name, name in lists, processors.get(name)) for name in compiled.positiontup]
        results = [c.type._cached_result_processor(dialect, None) for c in self.statement.selected_columns]
        convert = [(i, p) for i, p in enumerate(results) if p is not None]
        self._sqlite = (sql, order, compiled.params, convert)
        return self._sqlite

    def rows(self, conn: Connection, params: dict[str, Any]) -> list:
        if conn.dialect.driver != "pysqlite":  # PostgreSQL, or SQLite through aiosqlite (a session's)
            return list(map(self._make, conn.execute(self.statement, params)))
        sql, order, defaults, convert = self._sqlite or self._compiled(conn.dialect)
        values = []
        for name, is_list, process in order:
            value = params[name] if name in params else defaults[name]
            if is_list:
                value = json_list(value)
            elif process is not None:
                value = process(value)
            values.append(value)
        cursor = conn.connection.driver_connection.cursor()
        try:
            found = cursor.execute(sql, values).fetchall()
        finally:
            cursor.close()
        if convert:  # columns with a result type (raw() columns have none: read as the driver gives them)
            found = [list(r) for r in found]
            for r in found:
                for i, process in convert:
                    r[i] = process(r[i])
        return list(map(self._make, found))

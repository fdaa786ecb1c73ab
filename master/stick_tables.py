"""The master's stick tables: made before the workers fork, kept across reloads.

A table's shared memory is created once by the master; workers inherit the
mapping when forked (and again when respawned).  On a reload, a table whose
declaration did not change keeps its mapping, hence its entries; a changed or
new declaration gets a fresh, empty table.
"""

from __future__ import annotations

from luaproxy.worker.sticktable import SharedTable, TableSpec


class TableStore:
    def __init__(self, previous: TableStore | None = None, columns: int = 2) -> None:
        self.columns = columns  # one per process that may track at once (see SharedTable)
        self.tables: dict[str, SharedTable] = {}
        self._previous = previous.tables if previous is not None else {}
        self.kept: list[str] = []

    def table(self, spec: TableSpec) -> SharedTable:
        """The table for *spec*: the previous generation's one when its declaration is the same."""
        old = self._previous.get(spec.name)
        if old is not None and old.spec == spec and old.columns >= self.columns:
            self.kept.append(spec.name)
            table = old
        else:
            table = SharedTable(spec, self.columns)
        self.tables[spec.name] = table
        return table

    def forget_previous(self) -> None:
        """Once compiled, drop the last generation's tables (those kept are in ``tables``)."""
        self._previous = {}

"""Stick tables shared by every worker: declarations, shared memory, tracking."""

from .schema import DATA_KINDS, KeyType, Kind, SpecError, TableSpec, parse_table_args
from .table import SharedTable, now_ms

__all__ = ["DATA_KINDS", "KeyType", "Kind", "SharedTable", "SpecError", "TableSpec", "now_ms", "parse_table_args"]

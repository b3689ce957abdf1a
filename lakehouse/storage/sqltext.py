"""Quoting for SQL text built from table specs and lake paths (DuckDB dialect)."""

from __future__ import annotations


def ident(name: str) -> str:
    """A quoted identifier: a column or table name."""
    return '"' + name.replace('"', '""') + '"'


def literal(value: str) -> str:
    """A quoted string literal: a path or a comment."""
    return "'" + value.replace("'", "''") + "'"

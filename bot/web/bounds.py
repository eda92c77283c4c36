"""Bounds on the numbers and dates a URL, a query string or a form may carry.

Werkzeug's `<int:…>` takes any number of digits: an id past 2^63 made the SQLite driver raise
OverflowError, and one past 2^31 makes PostgreSQL refuse its `integer` columns; a date such as
0001-01-01 or 9999-12-31 overflows the first period or validity computation. Every route reads
numbers and dates through this module instead: out of range is a 404 for a path (no such
thing) and a 400 with a Chinese message for a field.
"""
from __future__ import annotations

import datetime as dt
import re

from flask import abort
from werkzeug.routing import IntegerConverter

DB_INT_MAX = 2 ** 31 - 1  # ids are INTEGER columns: PostgreSQL's integer ends here
FIRST_DAY, LAST_DAY = dt.date(1900, 1, 1), dt.date(2199, 12, 31)
ASCII_DIGITS = re.compile(r"[0-9]{1,10}")  # str.isdigit() also takes ² and ١, which int() refuses


class BoundedIntConverter(IntegerConverter):
    """`<int:…>` limited to what an id column holds (beyond it: no such page, 404)."""

    def __init__(self, map, fixed_digits=0, min=None, max=None, signed=False):  # noqa: A002 - Werkzeug's names
        super().__init__(map, fixed_digits, min, DB_INT_MAX if max is None else max, signed)


def install(app) -> None:
    """Replace `int` for every route registered after this call."""
    app.url_map.converters["int"] = BoundedIntConverter


def int_field(value: str | None, label: str, minimum: int = 1) -> int | None:
    """A whole number from a form or query field: None when empty, else 400 out of range."""
    text = (value or "").strip()
    if not text:
        return None
    if not ASCII_DIGITS.fullmatch(text) or not minimum <= int(text) <= DB_INT_MAX:
        abort(400, description=f"「{label}」须为 {minimum} 至 {DB_INT_MAX} 之间的整数。")
    return int(text)


def date_field(value: str | None, label: str) -> dt.date | None:
    """A date (YYYY-MM-DD) from a form or query field: None when empty, else 400 when it is
    not a date between FIRST_DAY and LAST_DAY."""
    text = (value or "").strip()
    if not text:
        return None
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        day = None
    if day is None or not FIRST_DAY <= day <= LAST_DAY or len(text) != 10:
        abort(400, description=f"「{label}」须为 {FIRST_DAY} 至 {LAST_DAY} 之间的日期，"
                               "格式 YYYY-MM-DD。")
    return day

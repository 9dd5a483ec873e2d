"""What the extra copies add up to: a finance reader's first question after "which rows" is "how much money".

For each numeric column that is neither the key, the timestamp, a writer column nor an identifier, the sum of
its values over the copies beyond the survivor of every cluster, and the part of it cleanup.sql deletes (the
identical clusters'); per currency when the table has a currency column. Sums are exact decimals, read from the
rows the scan already holds: nothing more is read from the database, and memory follows the columns and
currencies, not the clusters.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

from .writers import name_words

# declared types that hold amounts or counts, whatever the engine (NUMERIC(12,2), Decimal(12, 2), BIGINT, Int32,
# DOUBLE PRECISION, money, NUMBER); INTERVAL and POINT are not numbers
NUMERIC_TYPE = re.compile(r"^\s*(numeric|decimal|money|number|(tiny|small|medium|big|huge)?int(eger)?\d*|"
                          r"u?int\d*|real|float\d*|double( precision)?)\b", re.IGNORECASE)
# names that identify a row or a thing rather than measure it: a sum of them means nothing
IDENTIFIER = re.compile(r"(^|_)(id|pk|no|nr|num|number|seq|version|pid|port)$|^id_", re.IGNORECASE)
CAMEL_ID = re.compile(r"[a-z0-9]Id$|^id[A-Z]")  # accountId, idAccount (case matters: "paid" is an amount)
CURRENCY = re.compile(r"^(currency|ccy|curr?|currency_?code|iso_?currency|waehrung|w[aä]hrung|devise|moneda|valuta)$",
                      re.IGNORECASE)
MAX_CURRENCIES = 20  # more distinct values than this: the column is no currency, the totals are not split by it
# a column holding minor units (amount_cents, price_pence): its sum is a count of them, not of the currency, and
# "amount_cents 2,164,536 USD" read as two million dollars where it was 21,645.36
MINOR_UNITS = {"cents": "cents", "cent": "cents", "pence": "pence", "paise": "paise", "minor": "minor units"}


def amount_columns(columns: Iterable[tuple[str, str]], excluded: set[str]) -> list[str]:
    """The columns whose totals are worth stating, from (name, declared type) pairs.

    >>> amount_columns([("id", "INTEGER"), ("amount", "NUMERIC(12, 2)"), ("account_id", "BIGINT"),
    ...                 ("fee", "double precision"), ("note", "TEXT"), ("wait", "INTERVAL"), ("paid", "Decimal(9, 2)"),
    ...                 ("accountId", "Int64")], {"id"})
    ['amount', 'fee', 'paid']
    """
    return [name for name, kind in columns
            if name not in excluded and NUMERIC_TYPE.match(kind or "") and not IDENTIFIER.search(name)
            and not CAMEL_ID.search(name)]


def currency_column(columns: Iterable[tuple[str, str]], excluded: set[str]) -> str | None:
    """A column holding each row's currency (``currency``, ``ccy``, ``currency_code``, ...), if the table has one.

    >>> currency_column([("amount", "NUMERIC"), ("ccy", "CHAR(3)")], set())
    'ccy'
    """
    return next((name for name, kind in columns if name not in excluded and CURRENCY.match(name)
                 and not NUMERIC_TYPE.match(kind or "")), None)


def _number(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if isinstance(value, (int, float, str)):
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            return None
        return number if number.is_finite() else None
    return None


def _text(number: Decimal) -> str:
    """An exact decimal as plain digits (never 1E+3): a JSON string, since a double would round money."""
    return format(number, "f")


def extra_copy_totals(clusters: Iterable[Any], columns: list[str], currency: str | None,
                      deletes: bool) -> list[dict[str, Any]]:
    """Totals over the rows beyond each cluster's survivor. ``clusters``: objects with ``rows`` (each with
    ``survivor`` and ``values``) and ``payload``; ``deletes``: whether cleanup.sql deletes identical clusters'
    copies in this table (not in a view).

    >>> from types import SimpleNamespace as NS
    >>> row = lambda keep, amount, ccy: NS(survivor=keep, values={"amount": amount, "ccy": ccy})
    >>> eur = Decimal("10.50")
    >>> clusters = [NS(payload="identical", rows=[row(True, eur, "EUR"), row(False, eur, "EUR")]),
    ...             NS(payload="divergent", rows=[row(True, 7, "USD"), row(False, 8, "USD"), row(False, None, "USD")])]
    >>> extra_copy_totals(clusters, ["amount"], "ccy", True)  # doctest: +NORMALIZE_WHITESPACE
    [{'column': 'amount', 'currency': 'EUR', 'extra_copies': '10.50', 'to_delete': '10.50', 'rows': 1},
     {'column': 'amount', 'currency': 'USD', 'extra_copies': '8', 'to_delete': '0', 'rows': 1}]
    """
    if not columns:
        return []
    sums: dict[tuple[str, Any], list] = {}
    for cluster in clusters:
        deleted = deletes and cluster.payload == "identical"
        for row in cluster.rows:
            if row.survivor:
                continue
            values = row.values
            group = values[currency] if currency else None
            for column in columns:
                number = _number(values[column])
                if number is None:
                    continue
                entry = sums.setdefault((column, group), [Decimal(0), Decimal(0), 0])
                entry[0] += number
                if deleted:
                    entry[1] += number
                entry[2] += 1
    if currency and len({group for _, group in sums}) > MAX_CURRENCIES:
        merged: dict[tuple[str, Any], list] = {}
        for (column, _), (extra, deleted, rows) in sums.items():
            entry = merged.setdefault((column, None), [Decimal(0), Decimal(0), 0])
            entry[0] += extra
            entry[1] += deleted
            entry[2] += rows
        sums, currency = merged, None
    return [{"column": column, **({"currency": None if group is None else str(group)} if currency else {}),
             "extra_copies": _text(extra), "to_delete": _text(deleted), "rows": rows}
            for (column, group), (extra, deleted, rows) in sorted(sums.items(), key=lambda s: (columns.index(s[0][0]),
                                                                                              str(s[0][1])))]


def described(totals: list[dict[str, Any]]) -> str:
    """The totals as one line of prose, amounts with thousands separators.

    >>> described([{"column": "amount", "currency": "EUR", "extra_copies": "1234.50", "to_delete": "1234.50",
    ...             "rows": 3}, {"column": "amount", "currency": "USD", "extra_copies": "80", "to_delete": "0",
    ...             "rows": 1}, {"column": "qty", "extra_copies": "7", "to_delete": "5", "rows": 2}])
    'amount 1,234.50 EUR (all to delete), amount 80 USD (none to delete), qty 7 (5 to delete)'
    >>> described([{"column": "amount_cents", "currency": "USD", "extra_copies": "2164536", "to_delete": "0",
    ...             "rows": 308}])
    'amount_cents 2,164,536 USD cents (none to delete)'
    """
    parts = []
    for entry in totals:
        extra, deleted = Decimal(entry["extra_copies"]), Decimal(entry["to_delete"])
        currency = f" {entry['currency']}" if entry.get("currency") else ""
        words = name_words(entry["column"])
        if words and words[-1] in MINOR_UNITS:
            currency += f" {MINOR_UNITS[words[-1]]}"
        if deleted == extra:
            what = "all to delete"
        elif deleted == 0:
            what = "none to delete"
        else:
            what = f"{deleted:,f} to delete"
        parts.append(f"{entry['column']} {extra:,f}{currency} ({what})")
    return ", ".join(parts)

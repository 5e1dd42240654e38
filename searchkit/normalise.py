"""Dates, agency (source) names and place names as articles and queries write them → one canonical form.

Shared by the readers (``plaintext``, ``jsonlines``) and by ``query``'s filters; it imports no reading code.
"""

from __future__ import annotations

import re
from datetime import date, datetime

__all__ = ["normalise_source", "parse_date", "normalise_place", "MONTH_DAY_YEAR"]

# Canonical agency name → spellings seen in bylines, datelines and JSON feeds (compared case-insensitively).
_AGENCIES: dict[str, tuple[str, ...]] = {
    "Kazinform": ("kazinform", "kazinform international news agency", "inform.kz", "kazakhstan today"),
    "Kremlin": ("kremlin", "kremlin.ru", "president of russia", "en.kremlin.ru"),
    "The Times of Central Asia": ("the times of central asia", "times of central asia", "tca", "timesca.com"),
    "Reuters": ("reuters", "thomson reuters"),
    "TASS": ("tass", "itar-tass"),
    "RIA Novosti": ("ria novosti", "ria"),
    "Interfax": ("interfax", "interfax-kazakhstan"),
    "Associated Press": ("associated press", "ap"),
    "Agence France-Presse": ("agence france-presse", "afp"),
    "Xinhua": ("xinhua",),
    "Akorda": ("akorda", "akorda.kz"),
    "Tengrinews": ("tengrinews", "tengri news"),
}
_ALIAS_TO_AGENCY = {alias: name for name, aliases in _AGENCIES.items() for alias in aliases}

_MONTHS = ("january february march april may june july august september october november december").split()
MONTH_DAY_YEAR = re.compile(
    r"(?P<month>" + "|".join(_MONTHS) + r")\s+(?P<day>\d{1,2}),\s*(?P<year>\d{4})", re.IGNORECASE
)
_ISO_DATE = re.compile(r"(?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})")


def normalise_source(name: str | None) -> str | None:
    """Map an agency name as written (any case, a typo, an abbreviation) to its canonical name.

    >>> normalise_source("KAZIFORM")
    'Kazinform'
    """
    if name is None:
        return None
    key = " ".join(name.split()).strip(" .,").lower()
    if not key:
        return None
    if key in _ALIAS_TO_AGENCY:
        return _ALIAS_TO_AGENCY[key]
    import difflib  # an unknown name only: not imported by a search without --source

    close = difflib.get_close_matches(key, _ALIAS_TO_AGENCY, n=1, cutoff=0.8)
    if close and len(key) > 3:
        return _ALIAS_TO_AGENCY[close[0]]
    return " ".join(name.split())


def parse_date(value: object) -> date | None:
    """An ISO 8601 date or datetime, or ``Month D, YYYY``; None when absent or not a real date."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        return None
    text = value.strip()
    m = _ISO_DATE.match(text) or MONTH_DAY_YEAR.match(text)
    if m is None:
        return None
    month = m["month"]
    month_number = int(month) if month.isdigit() else _MONTHS.index(month.lower()) + 1
    try:
        return date(int(m["year"]), month_number, int(m["day"]))
    except ValueError:
        return None


def normalise_place(raw: str) -> str:
    """``NUR-SULTAN`` → ``Nur-Sultan``; mixed-case names are kept as written."""
    raw = " ".join(raw.split()).strip(" .,")
    return raw.title() if raw.isupper() else raw

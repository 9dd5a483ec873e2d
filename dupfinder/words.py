"""Numbers in sentences: "1 cluster", "2 clusters", never "cluster(s)". Kept apart from the report so the
command line's text output can use it without importing jinja2."""

from __future__ import annotations


def count(n: int, word: str, many: str | None = None) -> str:
    """A number with thousands separators and the word in the right number.

    >>> count(1, "incident"), count(1217, "row"), count(2, "key", "keys"), count(0, "key")
    ('1 incident', '1,217 rows', '2 keys', '0 keys')
    """
    return f"{n:,} {noun(n, word, many)}"


def noun(n: int | str, word: str, many: str | None = None) -> str:
    """The word alone, in the number of ``n`` (an int, or one already written with thousands separators,
    as the report's templates hold them).

    >>> noun(1, "row"), noun("1,217", "row"), noun(0, "entry", "entries")
    ('row', 'rows', 'entries')
    """
    one = n == 1 if isinstance(n, int) else str(n).strip() == "1"
    return word if one else (many or word + "s")


def percent(p: float) -> str:
    """A confidence as a percentage that never rounds up to certainty: a retry at 0.997 showed "100%" in the text
    and the report, which a calibrated probability below 1 is not.

    >>> percent(0.79), percent(0.997), percent(0.9996), percent(1.0), percent(0.004)
    ('79%', '99.7%', '>99.9%', '100%', '0%')
    """
    if p >= 1 or round(p * 100) < 100:
        return f"{p:.0%}"
    return f"{p:.1%}" if round(p * 1000) < 1000 else ">99.9%"

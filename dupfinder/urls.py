"""Database URLs as people give them: where the URL comes from, and the one function that masks its secrets.

Pure text handling (no SQLAlchemy import), so the error path of the command line can scrub a message
without loading a database driver.
"""

from __future__ import annotations

import os
import re
from urllib.parse import unquote_plus

ENV_VARIABLES = ("DUPFINDER_URL", "DATABASE_URL")
MASK = "***"
# query parameters whose value is a secret (names compared case-insensitively, after percent-decoding):
# password, sslpassword, passwd, pwd, secret, access_token, api_key, sslkey, ...
_SECRET_NAME = re.compile(r"pass|pwd|secret|token|credential|key|auth|sig", re.IGNORECASE)
_SCHEME = re.compile(r"^[A-Za-z][\w+.-]*:(?=/)")  # "postgresql:/" or "sqlite:///"; "app:pw@h" is userinfo
# conninfo-style text (``host=db password=x``) that reached an error message
_KEYWORD_SECRET = re.compile(
    r"(?i)(?:^|(?<=\s))([\w.-]*(?:pass|pwd|secret|token)[\w.-]*)(\s*=\s*)('(?:[^'\\]|\\.)*'?|\S+)")

_seen: set[str] = set()  # secrets of the URLs this process opened, scrubbed from any error text


def mask_url(url: object) -> str:
    """Render a URL with every secret replaced by ``***``: the only form dupfinder ever shows or writes.

    Masks the userinfo password and the values of secret-looking query parameters. Where an unencoded ``@``
    makes it unclear where the password ends, both readings are masked (the password up to the first and up
    to the last ``@``), so no part of it shows; malformed text is masked the same way.

    >>> mask_url("postgresql+psycopg://app:s3cret@db.internal/prod")
    'postgresql+psycopg://app:***@db.internal/prod'
    >>> mask_url("postgresql://app:p@ss@db/prod?sslmode=require&password=x&y")
    'postgresql://app:***@db/prod?sslmode=require&password=***'
    """
    text = _as_text(url)
    ranges = sorted(_secret_ranges(text))
    merged: list[list[int]] = []
    for lo, hi in ranges:
        if merged and lo <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    for lo, hi in reversed(merged):
        text = text[:lo] + MASK + text[hi:]
    return scrub(text)


def url_secrets(url: object) -> list[str]:
    """Every text in ``url`` that ``mask_url`` hides, and the pieces of it a driver might echo."""
    text = _as_text(url)
    pieces: list[str] = []
    for lo, hi in _secret_ranges(text):
        secret = text[lo:hi]
        for variant in (secret, unquote_plus(secret)):
            # libpq echoes a conninfo value with its backslashes and quotes escaped ("a\\b" for a\b)
            pieces += [variant, variant.replace("\\", "\\\\").replace("'", "\\'")]
            pieces += [p for p in re.split(r"[@/:?#&=\\'\"\s]", variant) if len(p) >= 4]
    # a secret of one or two characters would garble every message it was scrubbed from; mask_url still hides it
    return sorted({p for p in pieces if len(p) >= 3 and p != MASK}, key=len, reverse=True)


def _authority_start(text: str) -> int:
    """Where the part after ``scheme://`` begins (0 without a scheme).

    >>> _authority_start("postgresql+psycopg://u:p@h/db"), _authority_start("u:p@h")
    (21, 0)
    """
    scheme = _SCHEME.match(text)
    start = scheme.end() if scheme else 0
    while start < len(text) and text[start] == "/":
        start += 1
    return start


def _secret_ranges(text: str) -> list[tuple[int, int]]:
    """(start, end) of every secret in ``text``, under each reading of where the userinfo ends."""
    found: list[tuple[int, int]] = []
    start = _authority_start(text)
    body = text[start:]
    first_at = body.find("@")
    user_end = min([i for i in (body.find(":"), first_at) if i >= 0], default=-1)
    has_userinfo = first_at >= 0 and "/" not in body[:user_end]
    ends = sorted({first_at, body.rfind("@")}) if has_userinfo else [-1]
    for at in ends:  # the userinfo ending at the first @ (as SQLAlchemy reads it) and at the last one
        if at >= 0:
            colon = body.find(":", 0, at)
            if colon >= 0:
                found.append((start + colon + 1, start + at))
        question = body.find("?", max(at, 0))
        if question >= 0:
            offset = start + question + 1
            for name, eq, value in _params(body[question + 1:]):
                value_start = offset + len(name) + len(eq)
                if eq and value and _SECRET_NAME.search(unquote_plus(name)):
                    found.append((value_start, value_start + len(value)))
                offset = value_start + len(value) + 1  # and the & after it
    found += [(m.start(3), m.end(3)) for m in _KEYWORD_SECRET.finditer(text)]
    return [(lo, hi) for lo, hi in found if hi > lo]


def remember(url: object) -> None:
    """Note the secrets of a URL this process opens, so ``scrub`` removes them from any later message."""
    _seen.update(url_secrets(url))


def scrub(text: str) -> str:
    """Replace every remembered secret in ``text`` by ``***`` (driver messages may echo what they read)."""
    for secret in sorted(_seen, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def resolve_url(given: str | None, config_url: str | None = None, environ: dict[str, str] | None = None
                ) -> tuple[str | None, str]:
    """The database URL to use and where it came from.

    The argument wins, then ``DUPFINDER_URL``, then the config file's ``database``, then ``DATABASE_URL``
    (a generic variable an application's environment may set for its own database, so it only fills a gap).

    >>> resolve_url(None, "sqlite:///a.db", {"DATABASE_URL": "sqlite:///b.db"})
    ('sqlite:///a.db', 'the config file')
    """
    environ = os.environ if environ is None else environ
    for value, source in ((given, "the command line"), (environ.get("DUPFINDER_URL"), "DUPFINDER_URL"),
                          (config_url, "the config file"), (environ.get("DATABASE_URL"), "DATABASE_URL")):
        if value:
            return value, source
    return None, "nowhere"


def at_signs_ambiguous(url: str) -> bool:
    """Whether an unencoded ``@`` makes it unclear where the password ends: two ``@`` before the query, or
    a password together with an ``@`` in the query.

    >>> at_signs_ambiguous("postgresql://app:p@ss@db/prod"), at_signs_ambiguous("postgresql://app:p%40ss@db/x")
    (True, False)
    """
    start, userinfo, _rest = _split(url)
    if userinfo is None:  # no @, or every @ is in a path that comes first (sqlite:////data/a@b/c@d.db)
        return False
    body = url[start:]
    first_at = body.find("@")
    if first_at < 0:
        return False
    question = body.find("?", first_at)
    before_query = body if question < 0 else body[:question]
    if before_query.count("@") > 1:
        return True
    return userinfo is not None and ":" in body[:first_at] and question >= 0 and "@" in body[question:]


def _as_text(url: object) -> str:
    if isinstance(url, str):
        return url
    render = getattr(url, "render_as_string", None)  # a sqlalchemy URL
    return render(hide_password=False) if render else str(url)


def _split(text: str) -> tuple[int, str | None, str]:
    """(where the authority starts, the userinfo or None, the text after it); the userinfo ends at the
    last ``@``, so whatever an unencoded ``@`` splits off a password stays inside it."""
    start = _authority_start(text)
    body = text[start:]
    first_at = body.find("@")
    if first_at < 0:
        return start, None, ""
    first_colon = body.find(":")
    user_end = first_at if first_colon < 0 else min(first_colon, first_at)
    if "/" in body[:user_end]:  # a path came first: the @ is in the path or the query, not after a user
        return start, None, ""
    last_at = body.rfind("@")
    return start, body[:last_at], body[last_at + 1:]


# Parameters a database URL's query commonly holds (libpq, PyMySQL, SQLAlchemy's SQLite/DuckDB/Hive/ClickHouse
# options): after a secret's value, a piece named anything else is read as more of that secret (an unencoded
# ``&``), so it is masked too rather than shown.
KNOWN_PARAMS = frozenset("""
    host hostaddr port dbname database user username password passfile channel_binding connect_timeout
    client_encoding options application_name fallback_application_name keepalives keepalives_idle
    keepalives_interval keepalives_count tcp_user_timeout replication gssencmode sslmode requiressl
    sslcompression sslcert sslkey sslpassword sslcertmode sslrootcert sslcrl sslcrldir sslsni requirepeer
    ssl_min_protocol_version ssl_max_protocol_version krbsrvname gsslib gssdelegation service
    target_session_attrs load_balance_hosts charset read_default_file read_default_group ssl_ca ssl_cert ssl_key
    ssl_disabled ssl_verify_cert ssl_verify_identity local_infile autocommit binary_prefix init_command
    unix_socket auth_plugin_map driver odbc_connect mode uri check_same_thread timeout cache nolock immutable
    vfs read_only auth kerberos_service_name secure verify compression session_timezone
""".split())


def _params(query: str) -> list[tuple[str, str, str]]:
    """Split a query string into (name, "=" or "", raw value); a piece without ``=``, or with nothing before
    it, continues the previous value (a password with an unencoded ``&``: no parameter has an empty name), and
    so does a piece after a secret's value whose name is no parameter a database URL holds.

    >>> _params("password=Pw2&=Pw3&sslmode=x")
    [('password', '=', 'Pw2&=Pw3'), ('sslmode', '=', 'x')]
    >>> _params("password=Pw2@&Pw3=Pw4&sslmode=x")
    [('password', '=', 'Pw2@&Pw3=Pw4'), ('sslmode', '=', 'x')]
    """
    params: list[list[str]] = []
    for piece in query.split("&"):
        name, eq, value = piece.partition("=")
        secret_before = bool(params) and bool(_SECRET_NAME.search(unquote_plus(params[-1][0])))
        unknown = unquote_plus(name).strip().lower() not in KNOWN_PARAMS
        if not params or (eq and name and not (secret_before and unknown)):
            params.append([name, eq, value])
        else:
            params[-1][2] += "&" + piece
    return [(n, e, v) for n, e, v in params]

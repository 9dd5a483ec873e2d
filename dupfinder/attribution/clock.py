"""Clock-change evidence: a local-time schedule firing twice in the hour a fall-back night repeats.

A timestamp column may store instants (aware), or naive values that hold either UTC or the local wall
time. Both naive readings are tried: read as UTC, the two firings are an hour apart and the first falls
in the first pass through the repeated hour; read as local wall time, they are moments apart inside that
hour. The cluster says which reading matched. Keys explained this way stop counting as far duplicates.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from functools import lru_cache

from ..cluster import Cluster, build_clusters
from .observe import Observation

HOUR_US = 3_600_000_000


def _zone(zone: str):
    from zoneinfo import ZoneInfo

    return ZoneInfo(zone)


def in_repeated_hour(ts_us: int, aware: bool | None, zone: str | None) -> bool:
    """Whether a timestamp falls in the hour a fall-back clock change repeats, in the scheduler's zone.

    Instants (``aware``, or a naive column read as UTC): true only for the first pass through the hour
    (fold 0), the run that the second pass repeats. Wall-clock values: any value inside the hour.

    >>> from datetime import datetime, UTC
    >>> us = int(datetime(2026, 10, 25, 0, 30, tzinfo=UTC).timestamp() * 1e6)
    >>> in_repeated_hour(us, True, "Europe/Berlin"), in_repeated_hour(us + 3_600_000_000, True, "Europe/Berlin")
    (True, False)
    """
    if not zone:
        return False
    tz = _zone(zone)
    moment = datetime.fromtimestamp(ts_us / 1e6, UTC)
    if aware:
        local = moment.astimezone(tz)
        wall = local.replace(tzinfo=None)
        if local.fold:
            return False
    else:
        wall = moment.replace(tzinfo=None)
    first, second = wall.replace(tzinfo=tz, fold=0), wall.replace(tzinfo=tz, fold=1)
    return first.utcoffset() is not None and first.utcoffset() > second.utcoffset()


def local_pair(ts_us: int, reading: str, zone: str) -> str:
    """The two local times a repeated-hour pair was written at, with their zone abbreviations.

    >>> from datetime import datetime, UTC
    >>> us = int(datetime(2026, 11, 1, 5, 30, tzinfo=UTC).timestamp() * 1e6)
    >>> local_pair(us, "instant", "America/New_York")
    '01:30 EDT and 01:30 EST'
    >>> local_pair(int(datetime(2026, 11, 1, 1, 30, tzinfo=UTC).timestamp() * 1e6), "local", "America/New_York")
    '01:30 EDT and 01:30 EST'
    """
    tz = _zone(zone)
    moment = datetime.fromtimestamp(ts_us / 1e6, UTC)
    wall = moment.astimezone(tz).replace(tzinfo=None) if reading == "instant" else moment.replace(tzinfo=None)
    first, second = wall.replace(tzinfo=tz, fold=0), wall.replace(tzinfo=tz, fold=1)
    return f"{first:%H:%M} {first.tzname()} and {second:%H:%M} {second.tzname()}"


def when(ts_us: int, instants: bool, zone: str | None) -> str:
    """The minute an incident started, with the zone it is read in: "02:14" alone read as local time to one
    person and UTC to another (a finance audit). Instants (a column with a time zone, or a MySQL TIMESTAMP read
    in UTC) are shown in UTC, and with ``--timezone`` in that zone too; a column without a time zone holds wall
    time of a zone it does not record, so its minute is shown as stored and said so.

    >>> from datetime import datetime, UTC
    >>> us = int(datetime(2026, 11, 3, 2, 14, tzinfo=UTC).timestamp() * 1e6)
    >>> when(us, True, None), when(us, True, "America/New_York")
    ('2026-11-03 02:14 UTC', '2026-11-03 02:14 UTC (2026-11-02 21:14 EST)')
    >>> when(us, False, "America/New_York")
    '2026-11-03 02:14 (as stored, no time zone)'
    """
    moment = datetime.fromtimestamp(ts_us / 1e6, UTC)
    if not instants:
        return f"{moment:%Y-%m-%d %H:%M} (as stored, no time zone)"
    text = f"{moment:%Y-%m-%d %H:%M} UTC"
    if zone:
        local = moment.astimezone(_zone(zone))
        text += f" ({local:%Y-%m-%d %H:%M} {local.tzname()})"
    return text


READINGS = {"instant": "an instant (time zone stored)", "utc": "naive values holding UTC",
            "local": "naive values holding local wall time"}


def hour_apart_clusters(conn, info, spec, aware: bool | None, writers,
                        index=None) -> tuple[list[Cluster], str | None]:
    """Pairs of a key written one hour (± window) apart whose first row falls in the first pass through the
    repeated hour: instants in an aware column, or a naive column read as UTC. Returns them and, on
    PostgreSQL, what became of their commit timestamps (read for these rows as the detection reads them for
    its own: the findings must never say "not read (no clusters)" about a table whose clusters are these)."""
    if not spec.timezone:
        return [], None
    from ..detect import _with_commit_timestamps, detect_hour_apart

    records = detect_hour_apart(conn, info, spec, aware, index)
    commits = _with_commit_timestamps(conn, records) if records and info.dialect == "postgresql" else None
    found = build_clusters(records, info, spec.keys, spec.ts, writers, spec.keep)
    reading = "instant" if aware else "utc"
    return [replace(c, evidence={**c.evidence, "hour_apart": True, "clock_reading": reading}) for c in found
            if in_repeated_hour(c.start_us, True, spec.timezone)], commits


def commit_status(detected: str, repeated: str | None) -> str:
    """The table's commit-timestamp status: the detection's, or the clock-change pairs' when the detection
    found nothing near to read them for.

    >>> commit_status("not read (no clusters)", "off (track_commit_timestamp = off on the server)")[:3]
    'off'
    >>> commit_status("usable", "usable for 50% of the transactions")
    'usable'
    """
    return repeated if repeated is not None and detected.startswith("not read") else detected


def merge(clusters: list[Cluster], repeated: list[Cluster], far_total: int, far_list: tuple) -> tuple:
    """Add the hour-apart pairs to the clusters; a key whose only rows are the pair stops being a far
    duplicate (the clock change explains it). Returns (clusters, far_total, far_list)."""
    if not repeated:
        return clusters, far_total, far_list
    from ..values import jsonable

    def key_of(key: dict) -> tuple:  # far-duplicate keys hold database values, cluster keys JSON-safe ones
        return tuple(repr(jsonable(v)) for v in key.values())

    merged = sorted([*clusters, *repeated], key=lambda c: (c.start_us, str(c.key)))
    far_rows = {key_of(f.key): f.rows for f in far_list}
    explained = {key_of(c.key) for c in repeated if far_rows.get(key_of(c.key)) == len(c.rows)}
    return (merged, far_total - len(explained), tuple(f for f in far_list if key_of(f.key) not in explained))


def xmin_share(conn, info, found, clusters: list[Cluster]) -> float | None:
    """The detection's xmin share; read here when only clock-change pairs were found (detection read it only
    for near clusters), so the findings never say "not read" about a table with clusters."""
    if found.xmin_top_share is not None or not clusters or not info.heap:
        return found.xmin_top_share
    from ..detect import _xmin_top_share

    return _xmin_top_share(conn, info, found.stats.rows_scanned)


def reading_of(cluster: Cluster, aware: bool | None, zone: str | None) -> str | None:
    """Which reading of the timestamp column puts this cluster in the repeated hour (None: none does)."""
    if not zone:
        return None
    if cluster.evidence.get("hour_apart"):
        return cluster.evidence.get("clock_reading", "instant")
    if aware is not True and in_repeated_hour(cluster.start_us, False, zone):
        return "local"
    return None


def elapsed(cluster: Cluster, zone: str | None) -> float:
    """Seconds between the first and last copy as they happened: a pair read as local wall time in the repeated
    hour is moments apart on the wall clock and the clock's shift (an hour, mostly) apart in fact. A review's
    incident said "Gap between writers: median 27 ms" of copies one writer wrote an hour apart.

    >>> from datetime import datetime, UTC
    >>> from types import SimpleNamespace as C
    >>> us = int(datetime(2026, 11, 1, 1, 30, tzinfo=UTC).timestamp() * 1e6)
    >>> elapsed(C(start_us=us, span_seconds=0.027, evidence={"clock_reading": "local"}), "America/New_York")
    3600.027
    >>> elapsed(C(start_us=us, span_seconds=0.027, evidence={}), "America/New_York")
    0.027
    """
    if cluster.evidence.get("clock_reading") != "local" or not zone:
        return cluster.span_seconds
    tz = _zone(zone)
    wall = datetime.fromtimestamp(cluster.start_us / 1e6, UTC).replace(tzinfo=None)
    shift = wall.replace(tzinfo=tz, fold=0).utcoffset() - wall.replace(tzinfo=tz, fold=1).utcoffset()
    return round(cluster.span_seconds + shift.total_seconds(), 6)


# Zones whose fall-back night a naive column written without --timezone is checked against: the ones most
# schedulers run in (the repeated hour is 01:00-02:00 in North America and London, 02:00-03:00 in Central
# Europe and Sydney).
COMMON_ZONES = ("America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles", "Europe/London",
                "Europe/Berlin", "Australia/Sydney")


@lru_cache(maxsize=65_536)
def repeated_in(hour: int) -> tuple[str, ...]:
    """The COMMON_ZONES whose autumn clock change repeats the wall-clock hour ``hour`` (hours since the epoch, read
    as wall time). Every one of them changes its clock on a whole hour, so the answer holds for the whole hour:
    asked once per hour, not seven times per cluster (50,000 clusters of a naive column: 350,000 zone readings,
    about a sixth of the attribution's time).

    >>> repeated_in(int(datetime(2026, 11, 1, 1, 30, tzinfo=UTC).timestamp()) // 3600)[:2]
    ('America/New_York', 'America/Chicago')
    """
    return tuple(z for z in COMMON_ZONES if in_repeated_hour(hour * HOUR_US, False, z))


def zone_hint(cluster: Cluster, aware: bool | None, zone: str | None) -> str | None:
    """For a naive column read without --timezone: the copies' wall time falls in the hour a common zone's
    clock change repeats, so a local-time schedule firing twice then would read exactly so (copies moments
    apart) and nothing here could say it (a review: worker_race 99%, no word of the clock). None otherwise.

    >>> from datetime import datetime, UTC
    >>> class C: start_us = int(datetime(2026, 11, 1, 1, 30, tzinfo=UTC).timestamp() * 1e6)
    >>> zone_hint(C, False, None)[:61]
    'written at 01:30 wall time on 2026-11-01, inside the hour the'
    >>> zone_hint(C, False, "America/New_York"), zone_hint(C, True, None)
    (None, None)
    """
    if zone or aware:
        return None
    zones = repeated_in(cluster.start_us // HOUR_US)
    if not zones:
        return None
    wall = datetime.fromtimestamp(cluster.start_us / 1e6, UTC)
    named = (", ".join(zones[:-1]) + " and " if len(zones) > 1 else "") + zones[-1]
    return (f"written at {wall:%H:%M} wall time on {wall:%Y-%m-%d}, inside the hour the autumn clock change "
            f"repeats in {named}: if the column holds local time, --timezone {zones[0]} (or the "
            "scheduler's zone) would tell a schedule firing twice in that hour from the mechanism named here")


def observe(cluster: Cluster, aware: bool | None, zone: str | None, same_host: bool) -> list[Observation]:
    """'dst' = 'repeated hour' when the clock change explains the pair (one host: a second machine would be
    another mechanism that happened to run in that hour)."""
    reading = reading_of(cluster, aware, zone)
    if reading is None or not same_host:
        return []
    where = local_pair(cluster.start_us, "instant" if reading in ("instant", "utc") else "local", zone)
    return [Observation("dst", "repeated hour",
                        f"written at {where}, the hour the autumn clock change repeats ({zone}; the column "
                        f"read as {READINGS[reading]})")]

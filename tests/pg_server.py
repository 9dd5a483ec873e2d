"""A throwaway PostgreSQL server for the test suite: initdb + pg_ctl on a private port and socket dir.

As root, the server runs as the ``postgres`` system user (PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg


def find_bindir() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(os.path.realpath(found)).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                        key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    return Path(candidates[-1]).parent if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    def __init__(self, commit_timestamps: bool = True) -> None:
        self.commit_timestamps = commit_timestamps
        bindir = find_bindir()
        if bindir is None:
            raise RuntimeError("PostgreSQL server binaries not found (install postgresql; .ci/run does)")
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="dupfinder-pg-"))
        self.data = self.root / "data"
        self.sock = self.root / "sock"
        self.sock.mkdir()
        self.port = _free_port()
        self.as_root = os.geteuid() == 0
        if self.as_root:
            os.chmod(self.root, 0o755)
            shutil.chown(self.root, "postgres", "postgres")
            shutil.chown(self.sock, "postgres", "postgres")

    def _run(self, *args: str) -> None:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, text=True)

    def start(self) -> PostgresServer:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                  "--locale=C", "-N")
        return self._start()

    def _start(self, **settings: str) -> PostgresServer:
        settings = {"track_commit_timestamp": "on" if self.commit_timestamps else "off", **settings}
        options = (f"-p {self.port} -k {self.sock} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=60"
                   + "".join(f" -c {name}={value}" for name, value in settings.items()))
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.root / "server.log"),
                  "-w", "-t", "60", "start")
        return self

    def standby(self, **settings: str) -> PostgresServer:
        """Start a hot standby of this server (pg_basebackup -R: streaming replication over the replication
        line initdb's trust authentication writes for 127.0.0.1) with these settings, such as
        max_standby_streaming_delay; stop it before this one."""
        replica = PostgresServer(self.commit_timestamps)
        replica._run("pg_basebackup", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                     "-D", str(replica.data), "-R", "-X", "stream", "-c", "fast")
        return replica._start(hot_standby="on", **settings)

    def wait_for_replay(self, primary: PostgresServer, timeout: float = 30) -> None:
        """Wait until this standby has replayed everything ``primary`` has written so far."""
        with psycopg.connect(host="127.0.0.1", port=primary.port, user="postgres", autocommit=True) as conn:
            target = conn.execute("SELECT pg_current_wal_insert_lsn()").fetchone()[0]
        with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", autocommit=True) as conn:
            deadline = time.monotonic() + timeout
            while not conn.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (target,)).fetchone()[0]:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the standby did not replay up to {target} in {timeout} s")
                time.sleep(0.02)

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres", user: str = "postgres", password: str | None = None) -> str:
        auth = f"{user}:{password}" if password else user
        return f"postgresql+psycopg://{auth}@127.0.0.1:{self.port}/{database}"

    @property
    def psql(self) -> str:
        return str(self.bindir / "psql")


def terminate(process: subprocess.Popen | None, root: Path) -> None:
    """Stop a server process the suite started (terminate, then kill after 30 s) and remove its folder."""
    try:
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    finally:
        shutil.rmtree(root, ignore_errors=True)

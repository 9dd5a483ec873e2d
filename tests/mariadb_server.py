"""A throwaway MariaDB server for the test suite: mariadb-install-db + mariadbd on a private port and socket.

As root, the server runs as the ``mysql`` system user (``--user=mysql``); the data directory lives in a
temporary folder that is removed when the server stops.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from pg_server import terminate


def find_mariadbd() -> str | None:
    for name in ("mariadbd", "mysqld"):
        found = shutil.which(name) or (f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else None)
        if found:
            return found
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MariaDBServer:
    def __init__(self) -> None:
        daemon = find_mariadbd()
        install = shutil.which("mariadb-install-db") or shutil.which("mysql_install_db")
        if daemon is None or install is None:
            raise RuntimeError("MariaDB server binaries not found (install mariadb-server; .ci/system-deps does)")
        self.daemon, self.install = daemon, install
        self.root = Path(tempfile.mkdtemp(prefix="dupfinder-mariadb-"))
        self.data = self.root / "data"
        self.sock = self.root / "mysqld.sock"
        self.port = _free_port()
        self.as_root = os.geteuid() == 0
        self.process: subprocess.Popen | None = None
        if self.as_root:
            os.chmod(self.root, 0o755)
            shutil.chown(self.root, "mysql", "mysql")

    def _user(self) -> list[str]:
        return ["--user=mysql"] if self.as_root else []

    def start(self) -> MariaDBServer:
        done = subprocess.run(
            [self.install, "--no-defaults", f"--datadir={self.data}", "--auth-root-authentication-method=normal",
             "--skip-test-db", *self._user()],
            capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"mariadb-install-db failed: {done.stderr or done.stdout}")
        (self.root / "tmp").mkdir()
        if self.as_root:
            shutil.chown(self.root / "tmp", "mysql", "mysql")
        log = open(self.root / "server.log", "w")  # noqa: SIM115 (kept open for the server's lifetime)
        self.process = subprocess.Popen(
            [self.daemon, "--no-defaults", f"--datadir={self.data}", f"--socket={self.sock}",
             f"--port={self.port}", "--bind-address=127.0.0.1", f"--pid-file={self.root / 'mysqld.pid'}",
             "--skip-log-bin", "--innodb-flush-log-at-trx-commit=0", "--innodb-buffer-pool-size=64M",
             "--innodb-log-file-size=16M", "--skip-name-resolve", "--max-connections=60",
             "--character-set-server=utf8mb4", "--collation-server=utf8mb4_bin", f"--tmpdir={self.root / 'tmp'}",
             *self._user()],
            stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mariadbd exited: {(self.root / 'server.log').read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    break
            except OSError:
                time.sleep(0.2)
        else:
            self.stop()
            raise RuntimeError("mariadbd did not accept connections within 60 s")
        self.admin("CREATE USER 'dupfinder'@'%' IDENTIFIED BY 'dupfinder'",
                   "GRANT ALL PRIVILEGES ON *.* TO 'dupfinder'@'%' WITH GRANT OPTION")
        return self

    def admin(self, *statements: str, database: str | None = None) -> None:
        """Run statements as root over the socket."""
        import pymysql

        conn = pymysql.connect(unix_socket=str(self.sock), user="root", database=database, autocommit=True)
        try:
            with conn.cursor() as cur:
                for statement in statements:
                    cur.execute(statement)
        finally:
            conn.close()

    def stop(self) -> None:
        terminate(self.process, self.root)

    def url(self, database: str = "", user: str = "dupfinder", password: str | None = "dupfinder") -> str:
        auth = f"{user}:{password}" if password else user
        return f"mysql+pymysql://{auth}@127.0.0.1:{self.port}/{database}?charset=utf8mb4"

    @property
    def client(self) -> str:
        return shutil.which("mariadb") or shutil.which("mysql") or "mariadb"

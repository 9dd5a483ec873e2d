"""A throwaway redis-server (Debian's) on a free port, for the Celery scenarios: never skipped in CI."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest


def start_redis(work: Path) -> tuple[subprocess.Popen, str]:
    """Start redis-server with its files in ``work``; its process and URL once it answers PING (the caller
    terminates it)."""
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is missing in CI: .ci/system-deps installs it")
        pytest.skip("SKIPPED LOUDLY: redis-server not installed (apt-get install redis-server); "
                    "the Celery scenarios need it")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(work), "--logfile", str(work / "redis.log")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
                conn.sendall(b"PING\r\n")
                if conn.recv(16).startswith(b"+PONG"):
                    return proc, f"redis://127.0.0.1:{port}/0"
        except OSError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            log = work / "redis.log"
            raise RuntimeError(f"redis-server did not start: {log.read_text()[-500:] if log.exists() else ''}")
        time.sleep(0.05)

"""A throwaway Spark Thrift server for the test suite, started from pip's pyspark jars and a Java runtime.

``java -cp "$SPARK_HOME/jars/*" org.apache.spark.deploy.SparkSubmit --class ...HiveThriftServer2`` with
SPARK_HOME the pyspark package folder (the wheel ships spark-hive-thriftserver); ``local[2]``, a small
driver heap, a private port, the warehouse and the Derby metastore in a temporary folder removed at the end.
Clients connect through PyHive's SQLAlchemy dialect: ``hive://127.0.0.1:PORT/default``.
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

from pg_server import terminate

SERVER_CLASS = "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2"


def spark_home() -> Path | None:
    try:
        import pyspark
    except ImportError:
        return None
    return Path(pyspark.__file__).resolve().parent


def missing() -> str | None:
    """Why a Spark Thrift server cannot start here, or None."""
    home = spark_home()
    if home is None:
        return "pyspark is not installed"
    if not glob.glob(str(home / "jars" / "spark-hive-thriftserver_*.jar")):
        return f"the pyspark wheel in {home} has no spark-hive-thriftserver jar"
    if shutil.which("java") is None:
        return "no java on PATH (install default-jre-headless; .ci/system-deps does)"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SparkThriftServer:
    def __init__(self, driver_memory: str = "768m") -> None:
        reason = missing()
        if reason:
            raise RuntimeError(reason)
        self.home = spark_home()
        self.root = Path(tempfile.mkdtemp(prefix="dupfinder-spark-"))
        self.port = _free_port()
        self.driver_memory = driver_memory
        self.process: subprocess.Popen | None = None

    @property
    def log_path(self) -> Path:
        return self.root / "server.log"

    def command(self) -> list[str]:
        warehouse, metastore = self.root / "warehouse", self.root / "metastore_db"
        conf = {
            "spark.master": "local[2]",
            "spark.app.name": "dupfinder-tests",
            "spark.ui.enabled": "false",
            "spark.sql.shuffle.partitions": "2",
            "spark.default.parallelism": "2",
            "spark.sql.warehouse.dir": str(warehouse),
            "spark.sql.session.timeZone": "UTC",
            "spark.driver.bindAddress": "127.0.0.1",
            "spark.driver.host": "127.0.0.1",
            "spark.hadoop.javax.jdo.option.ConnectionURL": f"jdbc:derby:;databaseName={metastore};create=true",
            "spark.sql.catalogImplementation": "hive",
        }
        hive = {
            "hive.server2.thrift.port": str(self.port),
            "hive.server2.thrift.bind.host": "127.0.0.1",
            "hive.server2.transport.mode": "binary",
            "hive.server2.authentication": "NONE",
            "hive.server2.enable.doAs": "false",
        }
        return [
            "java", f"-Xmx{self.driver_memory}", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
            f"-Dderby.system.home={self.root}", "-Duser.timezone=UTC",
            # what spark-submit's launcher adds on Java 17 (JavaModuleOptions); without java.net, Hive's
            # Utilities fails to initialize and every later write to a table fails in this JVM
            *(f"--add-opens=java.base/{package}=ALL-UNNAMED" for package in (
                "java.lang", "java.lang.invoke", "java.lang.reflect", "java.io", "java.net", "java.nio", "java.util",
                "java.util.concurrent", "java.util.concurrent.atomic", "jdk.internal.ref", "sun.nio.ch", "sun.nio.cs",
                "sun.security.action", "sun.util.calendar")),
            "-Djdk.reflect.useDirectMethodHandle=false", "-Dio.netty.tryReflectionSetAccessible=true",
            "-cp", f"{self.home}/jars/*",
            "org.apache.spark.deploy.SparkSubmit", "--class", SERVER_CLASS,
            *(arg for k, v in conf.items() for arg in ("--conf", f"{k}={v}")),
            "spark-internal",
            *(arg for k, v in hive.items() for arg in ("--hiveconf", f"{k}={v}")),
        ]

    def start(self, timeout: float = 240) -> SparkThriftServer:
        env = {**os.environ, "SPARK_HOME": str(self.home), "SPARK_LOCAL_IP": "127.0.0.1", "TZ": "UTC"}
        log = open(self.log_path, "w")  # noqa: SIM115 (kept open for the server's lifetime)
        self.process = subprocess.Popen(self.command(), cwd=self.root, env=env, stdout=log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the Spark Thrift server exited: {self.log_path.read_text()[-3000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.5)
        tail = self.log_path.read_text()[-3000:]
        self.stop()
        raise RuntimeError(f"the Spark Thrift server did not listen within {timeout:.0f} s: {tail}")

    def stop(self) -> None:
        terminate(self.process, self.root)

    def url(self, database: str = "default") -> str:
        return f"hive://127.0.0.1:{self.port}/{database}"

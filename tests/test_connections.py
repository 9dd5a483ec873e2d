"""Where the database URL and the password come from: DUPFINDER_URL, DATABASE_URL, the config file, and
libpq's PGPASSWORD, password file and service file, against a server that really checks passwords."""

from __future__ import annotations

import secrets

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from helpers import events_table

from dupfinder.cli import main

ROLE = "dupfinder_pw"


def run(*args: str, env: dict | None = None):
    return CliRunner().invoke(main, list(args), env=env)


def test_the_url_comes_from_the_environment_when_not_given(tmp_path):
    dirty = f"sqlite:///{tmp_path / 'dirty.db'}"
    clean = f"sqlite:///{tmp_path / 'clean.db'}"
    events_table(dirty, [(1, 7, 0.0), (2, 7, 0.2)])
    events_table(clean, [(1, 7, 0.0), (2, 8, 0.2)])
    args = ["scan", "--table", "events", "--key", "account", "--ts", "ts"]
    none = {"DUPFINDER_URL": None, "DATABASE_URL": None}
    assert run(*args, env={**none, "DUPFINDER_URL": dirty}).exit_code == 1
    assert run(*args, env={**none, "DATABASE_URL": dirty}).exit_code == 1
    # DUPFINDER_URL wins over DATABASE_URL; the argument wins over both
    assert run(*args, env={"DUPFINDER_URL": clean, "DATABASE_URL": dirty}).exit_code == 0
    assert run(args[0], dirty, *args[1:], env={"DUPFINDER_URL": clean, "DATABASE_URL": clean}).exit_code == 1
    missing = run(*args, env=none)
    assert missing.exit_code == 2 and "DUPFINDER_URL" in missing.output and missing.output.count("\n") == 1
    # the config file's database sits between the two variables
    config = tmp_path / "c.toml"
    config.write_text(f'database = "{clean}"\n[[table]]\nname = "events"\nkeys = ["account"]\nts = "ts"\n')
    assert run("scan", "--config", str(config), env={**none, "DATABASE_URL": dirty}).exit_code == 0
    assert run("scan", "--config", str(config), env={**none, "DUPFINDER_URL": dirty}).exit_code == 1
    # discover and migrate read it too
    out = tmp_path / "d.toml"
    assert run("discover", "-o", str(out), env={**none, "DUPFINDER_URL": dirty}).exit_code == 0
    migrated = run("migrate", "--table", "events", "--key", "account", env={**none, "DATABASE_URL": dirty})
    assert migrated.exit_code == 0 and "CREATE UNIQUE INDEX" in migrated.output


@pytest.fixture(scope="module")
def password_server(pg_server):
    """The suite's server with password authentication (scram-sha-256) for one role: every other role keeps
    trust, so nothing else in the session changes; the first matching pg_hba line decides."""
    password = "pw-" + secrets.token_hex(8)
    hba = pg_server.data / "pg_hba.conf"
    original = hba.read_text()
    hba.write_text(f"host all {ROLE} 127.0.0.1/32 scram-sha-256\nhost all {ROLE} ::1/128 scram-sha-256\n"
                   f"local all {ROLE} scram-sha-256\n" + original)
    admin = sa.create_engine(pg_server.url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP ROLE IF EXISTS {ROLE}")
        conn.exec_driver_sql(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{password}'")
        conn.exec_driver_sql("SELECT pg_reload_conf()")
        rules = conn.exec_driver_sql("SELECT auth_method FROM pg_hba_file_rules WHERE user_name = "
                                     f"ARRAY['{ROLE}'] ORDER BY line_number").scalars().all()
    assert rules[0] == "scram-sha-256", rules
    yield pg_server, password
    hba.write_text(original)
    with admin.connect() as conn:
        conn.exec_driver_sql("SELECT pg_reload_conf()")
    admin.dispose()


@pytest.fixture
def guarded_table(password_server, pg_url):
    server, password = password_server
    events_table(pg_url, [(1, 7, 0.0), (2, 7, 0.3)])
    engine = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f"GRANT SELECT ON events TO {ROLE}")
    engine.dispose()
    database = pg_url.rsplit("/", 1)[1]
    return server, password, database


def _no_libpq_env(tmp_path) -> dict:
    """An environment where libpq finds no password anywhere (no variable, no ~/.pgpass)."""
    return {"PGPASSWORD": None, "PGPASSFILE": str(tmp_path / "none"), "PGSERVICEFILE": str(tmp_path / "none"),
            "PGSERVICE": None, "PGUSER": None, "PGHOST": None, "PGPORT": None, "PGDATABASE": None,
            "DUPFINDER_URL": None, "DATABASE_URL": None, "HOME": str(tmp_path)}


SCAN = ["--table", "events", "--key", "account", "--ts", "ts"]


def test_the_server_really_asks_for_a_password(guarded_table, tmp_path):
    server, password, database = guarded_table
    url = f"postgresql+psycopg://{ROLE}@127.0.0.1:{server.port}/{database}"
    env = _no_libpq_env(tmp_path)
    result = run("scan", url, *SCAN, env=env)
    assert result.exit_code == 3 and "no password supplied" in result.output, result.output
    wrong = run("scan", url, *SCAN, env={**env, "PGPASSWORD": "wrong-" + password})
    assert wrong.exit_code == 3 and "password authentication failed" in wrong.output, wrong.output
    assert password not in wrong.output and "wrong-" not in wrong.output


def test_pgpassword(guarded_table, tmp_path):
    server, password, database = guarded_table
    url = f"postgresql+psycopg://{ROLE}@127.0.0.1:{server.port}/{database}"
    result = run("scan", url, *SCAN, env={**_no_libpq_env(tmp_path), "PGPASSWORD": password})
    assert result.exit_code == 1, result.output  # logged in, found the pair
    assert password not in result.output


def test_password_file(guarded_table, tmp_path):
    server, password, database = guarded_table
    pgpass = tmp_path / "pgpass"
    pgpass.write_text(f"127.0.0.1:{server.port}:{database}:{ROLE}:{password}\n")
    pgpass.chmod(0o600)  # libpq ignores a password file others can read
    url = f"postgresql+psycopg://{ROLE}@127.0.0.1:{server.port}/{database}"
    result = run("scan", url, *SCAN, env={**_no_libpq_env(tmp_path), "PGPASSFILE": str(pgpass)})
    assert result.exit_code == 1, result.output
    # ~/.pgpass itself, the file people have
    home = tmp_path / "home"
    home.mkdir()
    (home / ".pgpass").write_text(pgpass.read_text())
    (home / ".pgpass").chmod(0o600)
    env = {**_no_libpq_env(tmp_path), "PGPASSFILE": None, "HOME": str(home)}
    assert run("scan", url, *SCAN, env=env).exit_code == 1


def test_service_file(guarded_table, tmp_path):
    server, password, database = guarded_table
    services = tmp_path / "pg_service.conf"
    services.write_text(f"[audit]\nhost=127.0.0.1\nport={server.port}\ndbname={database}\nuser={ROLE}\n"
                        f"password={password}\n")
    env = {**_no_libpq_env(tmp_path), "PGSERVICEFILE": str(services)}
    result = run("scan", "postgresql+psycopg:///?service=audit", *SCAN, env=env)
    assert result.exit_code == 1, result.output
    assert password not in result.output
    # the service named in the environment, the URL saying only which driver to use
    result = run("scan", *SCAN, env={**env, "PGSERVICE": "audit", "DUPFINDER_URL": "postgresql+psycopg://"})
    assert result.exit_code == 1, result.output


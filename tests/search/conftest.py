"""Fixtures of the search tests: a throwaway PostgreSQL cluster (Debian's ``postgresql``
package, a temporary directory, a loopback port, trust authentication, gone at the end of the
session).

``.ci/run`` installs the package when it is missing and sets ``SWIFT_SAMPLER_REQUIRE_POSTGRES=1``,
so there a missing server fails the tests instead of skipping them.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from _net import free_port


def _bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _as_server_user(args: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root: run them as the package's postgres user.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *args]
    return args


@contextmanager
def postgres_cluster() -> Iterator[str]:
    """Starts a cluster and yields its SQLAlchemy URL; stops and deletes it afterwards."""
    bindir = _bindir()
    if bindir is None:
        message = "PostgreSQL is not installed (apt-get install postgresql)"
        if os.environ.get("SWIFT_SAMPLER_REQUIRE_POSTGRES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    root = Path(tempfile.mkdtemp(prefix="swift-sampler-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, user="postgres")
    data, port = root / "data", free_port()
    subprocess.run(
        _as_server_user(
            [str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "-N"]
        ),
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    ctl = [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "log")]
    subprocess.run(
        _as_server_user([*ctl, "-o", options, "-w", "start"]), check=True, capture_output=True
    )
    try:
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(_as_server_user([*ctl, "-m", "immediate", "stop"]), capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def create_database(url: str, name: str) -> str:
    """Creates an empty database in the cluster of ``url``; returns its URL."""
    import psycopg2

    conn = psycopg2.connect(url.replace("postgresql+psycopg2", "postgresql"))
    try:
        conn.autocommit = True
        with conn.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
    finally:
        conn.close()
    return url.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The URL of a throwaway PostgreSQL cluster shared by the session's tests."""
    with postgres_cluster() as url:
        yield url


@pytest.fixture
def postgres_url(postgres_server: str, request: pytest.FixtureRequest) -> str:
    """A fresh, empty database per test: workers started together then also race to create
    Optuna's schema, as they do on a new database in a real cluster."""
    return create_database(postgres_server, request.node.name.lower()[:60])

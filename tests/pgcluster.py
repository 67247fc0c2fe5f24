"""A throwaway PostgreSQL server for the tests: a new cluster in a folder of its own,
reached over a Unix socket in that folder, run by an unprivileged user when the caller is
root (PostgreSQL refuses to run as root).

As a script: ``python tests/pgcluster.py start DIR`` starts one and prints the shell
lines that export where it is (``eval`` them); ``python tests/pgcluster.py stop DIR``
stops it. The tests find it through those variables; without them they start one of their
own when PostgreSQL's programs are installed, else they skip.
"""

from __future__ import annotations

import glob
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

#: The variables a started cluster is known by.
URL_VARIABLE = "FLUXJOURNAL_TEST_POSTGRES"
DATA_VARIABLE = "FLUXJOURNAL_TEST_PGDATA"
OWNER_VARIABLE = "FLUXJOURNAL_TEST_PGOWNER"
#: The superuser the cluster is made with, logging in without a password over the socket.
SUPERUSER = "fluxjournal"
#: A role that must give a password (scram-sha-256): the tests of a refused login.
PASSWORD_ROLE = "fluxjournal_password"
PASSWORD = "right-password"
#: Who runs the server when the caller is root: Debian's postgresql package makes it.
SERVER_USER = "postgres"


class Cluster(NamedTuple):
    """A running cluster: the URL of its ``postgres`` database, its data folder, and the
    user its server runs as (None: the caller)."""

    url: str
    data: str
    owner: str | None

    @classmethod
    def from_env(cls) -> Cluster | None:
        url = os.environ.get(URL_VARIABLE)
        data = os.environ.get(DATA_VARIABLE)
        if not url or not data:
            return None
        return cls(url, data, os.environ.get(OWNER_VARIABLE) or None)

    def exports(self) -> str:
        values = {
            URL_VARIABLE: self.url,
            DATA_VARIABLE: self.data,
            OWNER_VARIABLE: self.owner or "",
        }
        return "".join(f"export {name}={shlex.quote(value)}\n" for name, value in values.items())

    def url_of(self, database: str, user: str = SUPERUSER, password: str | None = None) -> str:
        """The URL of another database of this cluster, as another role."""
        socket = Path(self.data).parent
        login = user if password is None else f"{user}:{password}"
        return f"postgresql://{login}@/{database}?host={socket}"

    def pg_ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        socket = Path(self.data).parent
        options = f"-k {socket} -c listen_addresses='' -c fsync=off -c full_page_writes=off"
        command = [_program("pg_ctl"), "-D", self.data, "-l", f"{self.data}.log", "-w"]
        command += ["-o", options, *args]
        return _run_as(self.owner, command, check=check)

    def restart(self) -> None:
        """Stop the server (closing every connection) and start it again."""
        self.pg_ctl("-m", "fast", "restart")

    def stop(self) -> None:
        self.pg_ctl("-m", "immediate", "stop", check=False)


def binaries() -> str | None:
    """The folder of PostgreSQL's server programs, or None when they are not installed."""
    found = shutil.which("initdb")
    if found:
        return os.path.dirname(os.path.realpath(found))
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version)
    return os.path.dirname(versions[-1]) if versions else None


def _version(path: str) -> int:
    part = Path(path).parts[-3]
    return int(part) if part.isdigit() else 0


def _program(name: str) -> str:
    folder = binaries()
    if folder is None:
        raise FileNotFoundError("PostgreSQL's server programs (initdb) are not installed")
    return os.path.join(folder, name)


def _environment() -> dict[str, str]:
    """This process's environment without the sanitizer runtimes a sanitized test run
    preloads (README, "Sanitizers"): PostgreSQL's programs hang with AddressSanitizer's
    runtime preloaded, and they are not what the run checks."""
    env = dict(os.environ)
    kept = [
        path
        for path in env.pop("LD_PRELOAD", "").replace(":", " ").split()
        if not any(part in os.path.basename(path) for part in ("asan", "ubsan", "_with_fuzzer"))
    ]
    if kept:
        env["LD_PRELOAD"] = " ".join(kept)
    return env


def _run_as(owner: str | None, command: list[str], check: bool = True):
    if owner is not None:
        command = ["runuser", "-u", owner, "--", *command]
    return subprocess.run(command, check=check, capture_output=True, text=True, env=_environment())


def start(directory: str | os.PathLike[str]) -> Cluster:
    """Make a cluster in ``directory`` (which must not hold one) and start it."""
    root = Path(directory).resolve()
    root.mkdir(parents=True, exist_ok=True)
    owner = SERVER_USER if os.geteuid() == 0 else None
    if owner is not None:
        shutil.chown(root, owner)
        root.chmod(0o755)
    data = root / "data"
    try:
        _run_as(
            owner,
            [
                _program("initdb"),
                "-D",
                str(data),
                "-U",
                SUPERUSER,
                "-E",
                "UTF8",
                "--locale=C",
                "--auth=trust",
                "--no-sync",
            ],
        )
    except subprocess.CalledProcessError as exc:
        raise RuntimeError(f"initdb failed: {exc.stderr.strip()}") from None
    hba = data / "pg_hba.conf"
    hba.write_text(f"local all {PASSWORD_ROLE} scram-sha-256\nlocal all all trust\n")
    cluster = Cluster(f"postgresql://{SUPERUSER}@/postgres?host={root}", str(data), owner)
    try:
        cluster.pg_ctl("start")
    except subprocess.CalledProcessError as exc:
        log = Path(f"{data}.log")
        detail = log.read_text() if log.exists() else exc.stderr
        raise RuntimeError(f"the PostgreSQL server did not start: {detail.strip()}") from None
    _psql(cluster, f"CREATE ROLE {PASSWORD_ROLE} LOGIN PASSWORD '{PASSWORD}' CREATEDB")
    return cluster


def _psql(cluster: Cluster, sql: str) -> None:
    command = [_program("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", cluster.url, "-c", sql]
    for _ in range(50):  # the server may still be opening its socket to logins
        done = subprocess.run(command, capture_output=True, text=True, env=_environment())
        if done.returncode == 0:
            return
        time.sleep(0.1)
    raise RuntimeError(f"psql failed: {done.stderr.strip()}")


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("start", "stop"):
        print("usage: pgcluster.py start|stop DIR", file=sys.stderr)
        return 2
    verb, directory = argv
    if verb == "start":
        print(start(directory).exports(), end="")
        return 0
    root = Path(directory).resolve()
    owner = SERVER_USER if os.geteuid() == 0 else None
    Cluster("", str(root / "data"), owner).stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

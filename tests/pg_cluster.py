"""A throwaway PostgreSQL cluster for the tests: initdb into a temporary directory, a server on a
Unix socket there (no TCP port, so parallel test runs never collide), removed at the end.

PostgreSQL refuses to run as root, so as root (CI) the cluster belongs to ``nobody`` and its
programs run through ``runuser``. Durability is switched off: the cluster lives for one test run.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

UNPRIVILEGED = "nobody"


class NoServer(Exception):
    """No PostgreSQL server can be started here; the message says why."""


def server_binaries() -> Path | None:
    """The directory of initdb and pg_ctl: Debian's newest /usr/lib/postgresql/N/bin, else the PATH's."""
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                      key=lambda path: int(Path(path).parent.parent.name) if Path(path).parent.parent.name.isdigit()
                      else 0)
    if versions:
        return Path(versions[-1]).parent
    found = shutil.which("initdb")
    return Path(found).parent if found else None


@dataclass
class Cluster:
    directory: Path
    bin_dir: Path
    as_user: str | None

    @property
    def socket_dir(self) -> Path:
        return self.directory

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://sla@/{database}?host={self.socket_dir}"

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        prefix = ["runuser", "-u", self.as_user, "--"] if self.as_user else []
        return subprocess.run([*prefix, *args], capture_output=True, text=True, timeout=120, check=False)

    def start(self) -> None:
        data = self.directory / "data"
        done = self._run(str(self.bin_dir / "initdb"), "-D", str(data), "-U", "sla", "-A", "trust",
                         "--no-sync", "-E", "UTF8", "--locale=C")
        if done.returncode != 0:
            raise NoServer(f"initdb failed: {done.stderr.strip() or done.stdout.strip()}")
        options = (f"-k {self.socket_dir} -c listen_addresses='' -c fsync=off -c synchronous_commit=off "
                   "-c full_page_writes=off -c max_connections=60")
        done = self._run(str(self.bin_dir / "pg_ctl"), "-D", str(data), "-l", str(self.directory / "server.log"),
                         "-w", "-t", "60", "-o", options, "start")
        if done.returncode != 0:
            log = (self.directory / "server.log")
            detail = log.read_text(errors="replace")[-2000:] if log.exists() else done.stderr
            raise NoServer(f"the PostgreSQL server did not start: {detail.strip()}")

    def stop(self) -> None:
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.directory / "data"), "-m", "immediate", "stop")
        shutil.rmtree(self.directory, ignore_errors=True)


def start_cluster() -> Cluster:
    """Start a cluster, or raise NoServer saying why not."""
    bin_dir = server_binaries()
    if bin_dir is None:
        raise NoServer("no PostgreSQL server programs (initdb, pg_ctl); install Debian's `postgresql` package")
    as_user: str | None = None
    directory = Path(tempfile.mkdtemp(prefix="sla-pg-"))
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            raise NoServer("running as root without `runuser`, and PostgreSQL refuses to run as root")
        as_user = UNPRIVILEGED
        shutil.chown(directory, user=UNPRIVILEGED)
    cluster = Cluster(directory, bin_dir, as_user)
    try:
        cluster.start()
    except (NoServer, OSError, subprocess.SubprocessError) as error:
        shutil.rmtree(directory, ignore_errors=True)
        raise NoServer(str(error)) from None
    return cluster

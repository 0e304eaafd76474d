"""What the reliability scripts share: starting and stopping their own
oxstack (and PostgreSQL), and reporting what they found."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path


class Process:
    """An `oxstack serve` of its own, on a free port (or the `listen` one),
    logging (appending) to a file; or, with `command="compute"`, a compute
    host of a cloud on PostgreSQL."""

    def __init__(self, binary: str, root: Path, args: list[str], command: str = "serve",
                 listen: str = "127.0.0.1:0", log_name: str = "server.log"):
        root.mkdir(parents=True, exist_ok=True)
        self.log_path = root / log_name
        env = {k: v for k, v in os.environ.items() if not k.startswith("OXSTACK_")}
        env["NO_COLOR"] = "1"
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [binary, command, "--listen", listen, "--data-dir", str(root / "data"), *args],
                stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, env=env, text=True)
        line = self.proc.stdout.readline()
        ready = r"http://127\.0\.0\.1:(\d+)" if command == "serve" else r"compute host .* running()"
        m = re.search(ready, line)
        if not m:
            sys.exit(f"oxstack did not start: {line!r}\n{self.log_path.read_text(errors='replace')[-2000:]}")
        self.port = int(m.group(1)) if m.group(1) else None

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """Ends it at once, as a power cut would (SIGKILL)."""
        self.proc.kill()
        self.proc.wait()

    def stop(self) -> str:
        """Stops it; its log."""
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        return self.log_path.read_text(errors="replace")


class Postgres:
    """A PostgreSQL server of the run's own (initdb in the run's directory),
    so that it can be restarted and stopped without touching anyone else's."""

    def __init__(self, root: Path):
        bins = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))
        if not bins:
            sys.exit("the database faults need PostgreSQL's server programs (/usr/lib/postgresql/*/bin)")
        self.bin = bins[-1]
        self.dir, self.log = root / "pg", root / "pg.log"
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        # initdb refuses to run as root: the cluster then belongs to postgres.
        self.as_owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        root.chmod(0o755)
        self.dir.mkdir()
        self.log.touch()
        if self.as_owner:
            shutil.chown(self.dir, "postgres")
            shutil.chown(self.log, "postgres")
        self.run("initdb", "-D", str(self.dir), "-A", "trust", "-U", "postgres", "--no-sync")
        self.start()
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def run(self, program: str, *args: str) -> None:
        subprocess.run([*self.as_owner, str(self.bin / program), *args], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def pg_ctl(self, *args: str) -> None:
        self.run("pg_ctl", "-D", str(self.dir), "-l", str(self.log), "-w", *args)

    def start(self) -> None:
        self.pg_ctl("-o", f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1", "start")

    def stop(self) -> None:
        self.pg_ctl("-m", "fast", "stop")

    def restart(self) -> None:
        self.pg_ctl("-m", "fast", "-o", f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1",
                    "restart")


def panic_in(log: str) -> str | None:
    """The panic a log shows, if any."""
    if "panicked" not in log:
        return None
    at = log.index("panicked")
    return log[max(0, at - 500):at + 2500]


def report(summary: str, problems: list[str]) -> int:
    """Prints the summary and the first problems; the exit code."""
    print(f"{summary}; {len(problems)} problems")
    for problem in problems[:60]:
        print("  -", problem)
    return 1 if problems else 0

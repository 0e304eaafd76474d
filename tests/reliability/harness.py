"""What the reliability scripts share: starting and stopping their own
oxstack, and reporting what they found."""

from __future__ import annotations

import os
import re
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

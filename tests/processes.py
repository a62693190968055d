"""Helpers for tests that drive real processes: polling, and scheduler subprocesses."""

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import ROOT

LEADS = "scheduler: leading"
STANDS_BY = "another process leads; standing by"
STOPPED = "scheduler: stopped"
JOB_LINE = re.compile(r"job (?P<name>[\w-]+): (?P<counts>.*)$", re.MULTILINE)


def wait_until(condition, timeout: float, interval: float = 0.1) -> bool:
    """Poll `condition` until it is true (True) or `timeout` seconds passed (False)."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


class Scheduler:
    """One `flask --app app jobs run` subprocess whose log goes to a file."""

    def __init__(self, log_path: Path, env: dict):
        self.log_path = log_path
        self.log_file = open(log_path, "wb")  # noqa: SIM115 (closed in cleanup)
        self.shutdown_log = ""
        self.process = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "app", "jobs", "run"],
            cwd=ROOT,
            env=env,
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
        )

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def leads(self) -> bool:
        return LEADS in self.log

    def stands_by(self) -> bool:
        return STANDS_BY in self.log

    def job_runs(self, name: str | None = None) -> list[dict]:
        """Each logged job run (in order) as `{"name", counts...}`."""
        runs = []
        for match in JOB_LINE.finditer(self.log):
            counts = dict(pair.split("=", 1) for pair in match["counts"].split() if "=" in pair)
            if name is None or match["name"] == name:
                runs.append({"name": match["name"], **{k: int(v) for k, v in counts.items()}})
        return runs

    def closed_and_failed(self) -> tuple[int, int]:
        runs = self.job_runs("close-deals")
        return sum(r["closed"] for r in runs), sum(r["failed"] for r in runs)

    def stop(self, signum=signal.SIGTERM, timeout=10) -> int | None:
        """Send `signum` and wait: the exit code, or None if it had to be killed.

        `shutdown_log` is what was logged meanwhile.
        """
        if self.process.poll() is not None:
            return self.process.returncode
        logged_before = len(self.log)
        self.process.send_signal(signum)
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            code = None
        self.shutdown_log = self.log[logged_before:]
        return code

    def cleanup(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.log_file.close()

"""Wall time of `symloss build` and `symloss check` over every bundled spec, as a user runs them.

Each runs in its own process (interpreter start and imports included, as a user sees it). The
build writes into a temporary folder so the checkout's generated/ is never touched.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

LIMITS = {"build": 15.0, "check": 60.0}  # seconds, issue 4, on the 2-core machine


@dataclass
class CompileTime:
    command: str
    seconds: float
    returncode: int
    limit: float

    @property
    def met(self) -> bool:
        return self.returncode == 0 and self.seconds <= self.limit


def _time(command: str, argv: list[str]) -> CompileTime:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "symloss.compiler.commands.cli", *argv],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return CompileTime(command, time.perf_counter() - start, done.returncode, LIMITS[command.split()[1]])


def measure() -> list[CompileTime]:
    with tempfile.TemporaryDirectory(prefix="symloss-bench-build-") as out:
        build = _time("symloss build --quiet", ["build", "--quiet", "--out", out])
    check = _time("symloss check", ["check"])
    return [build, check]

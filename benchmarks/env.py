"""The process environment a benchmark needs, and a description of the machine it ran on.

glibc returns Paddle's 2-8 MiB CPU buffers to the OS after each call and faults them in again on
the next one: up to 68,000 minor faults a call, and medians that differ by 20-60 % between two
runs (shared/research/perf.md section 6). These tunables keep the memory mapped; glibc reads them
only at process start, so a benchmark started without them re-executes itself with them.
"""
from __future__ import annotations

import os
import platform
import subprocess
import sys

MALLOC_ENV = {
    "MALLOC_MMAP_THRESHOLD_": "33554432",
    "MALLOC_TRIM_THRESHOLD_": "17179869184",
    "MALLOC_TOP_PAD_": "268435456",
}
CHILD_FLAG = "SYMLOSS_BENCH_CHILD"


def is_glibc() -> bool:
    return sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"


def malloc_missing() -> list[str]:
    return [k for k, v in MALLOC_ENV.items() if os.environ.get(k) != v]


def malloc_text() -> str:
    return " ".join(f"{k}={v}" for k, v in MALLOC_ENV.items())


def reexec(argv: list[str]) -> int:
    """Run `python -m symloss.benchmarks ARGV` with the malloc variables set; its exit status."""
    env = dict(os.environ, **MALLOC_ENV, **{CHILD_FLAG: "1"})
    print(f"symloss bench: glibc malloc variables missing; re-running in a subprocess with {malloc_text()}",
          flush=True)
    return subprocess.call([sys.executable, "-m", "symloss.benchmarks", *argv], env=env)


def malloc_state() -> str:
    """One line for the report: which malloc settings this process runs under."""
    if not is_glibc():
        return "not glibc: the malloc variables do not apply"
    missing = malloc_missing()
    if not missing:
        return f"set: {malloc_text()}"
    return f"NOT set ({', '.join(missing)} missing): expect page-fault noise"


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def distance_transform() -> str:
    """Which transform the eager distance maps use, and on how many threads."""
    try:
        import edt  # noqa: F401

        from symloss.runtime.distance_maps import map_threads

        return f"edt (the `fast` extra), {map_threads()} threads (SYMLOSS_MAP_THREADS)"
    except ImportError:
        return "SciPy (edt not installed: pip install symloss[fast])"


def versions(device: str = "cpu") -> dict:
    import numpy
    import paddle

    from . import pseg

    _, pseg_version, why = pseg.load()
    out = {
        "python": platform.python_version(),
        "paddle": paddle.__version__,
        "numpy": numpy.__version__,
        "paddleseg": pseg_version or why,
        "cpu": f"{cpu_model()}, {os.cpu_count()} cores",
        "threads": os.environ.get("OMP_NUM_THREADS", "unset") + " (OMP_NUM_THREADS; Paddle sets 1 on import)",
        "distance transform": distance_transform(),
    }
    if device != "cpu":
        out["device"] = f"{device}: {paddle.device.cuda.get_device_name()}"
    return out

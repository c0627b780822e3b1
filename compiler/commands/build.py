"""Checking and compiling many specs at once, on every core: the work behind `symloss build`.

Each spec is checked and rendered independently, so specs are spread over forked worker processes
(the registry is loaded once, before the fork). Results come back in name order, so the output does
not depend on scheduling.
"""
from __future__ import annotations

import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from . import claim_cache

_REGISTRY: dict = {}  # the registry, inherited by forked workers
_DIGEST: str | None = None  # claim_cache.inputs_digest of it, when earlier outcomes may be reused


@dataclass
class Compiled:
    name: str
    outcomes: list
    module: str | None  # the rendered module, None if a claim failed or rendering was not asked for
    seconds: float  # wall time of this spec in its worker
    cpu_seconds: float  # CPU time of this spec in its worker
    reused: bool = False  # its claim outcomes came from an earlier build (claim_cache)


def _work(name: str, render: str | None) -> Compiled:
    from ..proof.check import Checker
    from ..backend.emit import render_loss

    start, cpu_start = time.perf_counter(), time.process_time()
    registry = _REGISTRY
    outcomes = claim_cache.load(_DIGEST, name) if _DIGEST else None
    reused = outcomes is not None
    if not reused:
        outcomes = Checker(registry).check(registry[name])
        if _DIGEST:
            claim_cache.store(_DIGEST, name, outcomes)
    module = None
    if render and all(o.ok for o in outcomes):
        module = render_loss(registry[name], registry, standalone=render == "standalone")
    return Compiled(name, outcomes, module, time.perf_counter() - start, time.process_time() - cpu_start, reused)


def requested_names(registry: dict, paths) -> list[str]:
    """The names of the specs that the spec files and folders in `paths` define, sorted."""
    from ..frontend.loader import spec_files

    files = {f.resolve() for raw in paths for f in (spec_files(Path(raw)) if Path(raw).is_dir() else [Path(raw)])}
    return sorted(n for n, loss in registry.items() if Path(loss.path).resolve() in files)


def default_jobs() -> int:
    """Every core, unless Paddle is already loaded in this process (forking it is not safe)."""
    return 1 if "paddle" in sys.modules else max(1, os.cpu_count() or 1)


def compile_specs(registry: dict, names, render: str | None = "package", jobs: int | None = None,
                  on_result=None, reuse: bool = False) -> list[Compiled]:
    """Check (and render, if `render` is "package" or "standalone") each named spec.

    `on_result(compiled)` is called for each spec, in name order, as soon as its result is known.
    `reuse`: take a spec's claim outcomes from an earlier build of the same inputs (claim_cache).
    """
    global _REGISTRY, _DIGEST
    _REGISTRY = registry
    _DIGEST = claim_cache.inputs_digest(registry) if reuse else None
    jobs = min(jobs or default_jobs(), len(names))
    results = []
    if jobs <= 1:
        for name in names:
            results.append(_work(name, render))
            if on_result:
                on_result(results[-1])
        return results
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("fork")) as pool:
        futures = [pool.submit(_work, name, render) for name in names]
        try:
            for future in futures:
                results.append(future.result())
                if on_result:
                    on_result(results[-1])
        except BaseException:  # e.g. the reader of our output went away: start no further spec
            pool.shutdown(cancel_futures=True)
            raise
    return results

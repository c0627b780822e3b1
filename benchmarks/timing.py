"""Interleaved forward + backward timing, peak memory and page faults of a set of loss calls.

Every case is timed in every round, one after another, so slow drift of a shared machine hits the
floor, the baselines and the generated losses alike; ratios are taken between medians of the same
rounds. Memory is measured on an untimed call, because the allocator statistics and tracemalloc
cost time themselves.
"""
from __future__ import annotations

import gc
import resource
import statistics
import time
import tracemalloc
from dataclasses import dataclass, field
from typing import Callable


@dataclass
class Case:
    """One thing to time: `fn(logit, label)` returns a scalar loss; its backward is timed too."""

    key: str
    fn: Callable
    fresh_label: bool = False  # the callee writes into its label (PaddleSeg's DiceLoss): copy it per call


@dataclass
class Measurement:
    key: str
    times_ms: list = field(default_factory=list)
    faults: list = field(default_factory=list)  # minor page faults per timed call
    peak_bytes: int | None = None  # Paddle's host allocator + numpy (tracemalloc), above the inputs
    value: float | None = None  # the loss value of the untimed call, to check that twins agree
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.times_ms)

    @property
    def median(self) -> float:
        return statistics.median(self.times_ms)

    def quartiles(self) -> tuple[float, float]:
        return quartiles(self.times_ms)


def quartiles(values) -> tuple[float, float]:
    """(q1, q3); with fewer than 2 values both are the value itself."""
    values = sorted(values)
    if len(values) < 2:
        return values[0], values[0]
    q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q3


def _short(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    first = next((line.strip() for line in text if line.strip()), "")
    return f"{type(err).__name__}: {first}"[:160]


class _HostMemory:
    """Peak bytes of Paddle's CPU allocator (`host_memory_stat_*`, 'Allocated') during one call.

    `paddle.device.max_memory_allocated` refuses CPU builds; the host statistics of
    `paddle.base.core` count every tensor the CPU allocator hands out, including the ones autograd
    saves for backward. numpy buffers (scipy distance transforms, ...) are not Paddle's: they are
    added from tracemalloc, which numpy reports its data buffers to. The two peaks need not coincide,
    so their sum bounds the call's peak from above; it is taken per pass (`lap` between the forward
    and the backward pass) and the larger pass is the call's: a sum over the whole call would add
    one pass's Paddle peak to the other's NumPy temporaries.
    """

    def __init__(self, paddle):
        core = paddle.base.core
        self.available = all(hasattr(core, n) for n in ("host_memory_stat_current_value",
                                                         "host_memory_stat_peak_value",
                                                         "host_memory_stat_reset_peak_value"))
        self.core = core

    def start(self):
        tracemalloc.start()
        tracemalloc.reset_peak()
        if not self.available:
            return 0
        self.core.host_memory_stat_reset_peak_value("Allocated", 0)
        return self.core.host_memory_stat_current_value("Allocated", 0)

    def lap(self, before) -> int | None:
        """The peak of the pass since start() or the last lap, both peaks reset for the next pass."""
        _, numpy_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        if not self.available:
            return None
        peak = self.core.host_memory_stat_peak_value("Allocated", 0) - before + numpy_peak
        self.core.host_memory_stat_reset_peak_value("Allocated", 0)
        return peak

    def stop(self, before, passes=()) -> int | None:
        """The call's peak: the largest of its passes (`passes`: the laps taken) and the last one."""
        last = self.lap(before)
        tracemalloc.stop()
        return None if last is None else max([last, *passes])


class _DeviceMemory:
    """Peak bytes of Paddle's GPU allocator during one call (paddle.device.cuda's statistics)."""

    def __init__(self, paddle):
        cuda = paddle.device.cuda
        self.cuda = cuda
        self.available = all(hasattr(cuda, n) for n in ("max_memory_allocated", "memory_allocated",
                                                        "reset_max_memory_allocated"))

    def start(self):
        if not self.available:
            return 0
        self.cuda.synchronize()
        self.cuda.reset_max_memory_allocated()
        return self.cuda.memory_allocated()

    def lap(self, before) -> int | None:
        return None  # one allocator: its peak over the whole call is exact

    def stop(self, before, passes=()) -> int | None:
        if not self.available:
            return None
        self.cuda.synchronize()
        return self.cuda.max_memory_allocated() - before


def _faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def run_interleaved(cases: list[Case], logit, label, repeats: int, warmup: int,
                    device: str = "cpu") -> dict[str, Measurement]:
    """Warm every case up (the last warm-up call measures memory and the value), then time `repeats`
    rounds in which each case runs once, in the same order. On a GPU each timed call ends with a
    device synchronisation (kernels run asynchronously there), and memory is the GPU allocator's."""
    import paddle

    gpu = device.startswith("gpu")
    memory = _DeviceMemory(paddle) if gpu else _HostMemory(paddle)
    finish = paddle.device.synchronize if gpu else (lambda: None)
    results = {case.key: Measurement(case.key) for case in cases}

    def call(case):
        x = logit.detach()  # a fresh leaf sharing logit's storage: no gradient accumulates
        x.stop_gradient = False
        lab = label.clone() if case.fresh_label else label
        return x, lab

    for case in cases:
        m = results[case.key]
        try:
            for k in range(max(warmup, 1)):
                x, lab = call(case)
                last = k == max(warmup, 1) - 1
                before = memory.start() if last else None
                loss = case.fn(x, lab)
                forward = [memory.lap(before)] if last else []
                loss.backward()
                if last:
                    m.peak_bytes = memory.stop(before, [b for b in forward if b is not None])
                    m.value = float(loss)
                del loss, x, lab
        except Exception as err:  # a baseline that does not run on this Paddle is a result, not a crash
            if tracemalloc.is_tracing():
                tracemalloc.stop()
            m.error = _short(err)

    active = [c for c in cases if results[c.key].error is None]
    gc.collect()
    gc.disable()  # a collection inside a timed call would land on whichever case triggered it
    try:
        for _ in range(repeats):
            for case in active:
                m = results[case.key]
                if m.error is not None:
                    continue
                x, lab = call(case)
                f0 = _faults()
                t0 = time.perf_counter()
                try:
                    loss = case.fn(x, lab)
                    loss.backward()
                    finish()
                except Exception as err:
                    m.error = _short(err)
                    continue
                t1 = time.perf_counter()
                m.faults.append(_faults() - f0)
                m.times_ms.append((t1 - t0) * 1e3)
                del loss, x, lab
    finally:
        gc.enable()
    return results


def ratio(a: Measurement, b: Measurement) -> tuple[float, float, float] | None:
    """(median, q1, q3) of the per-round ratios a_r / b_r.

    Both were timed in the same round, so a slow stretch of a shared machine lands on both; the
    median of the paired ratios is steadier than the ratio of two medians, and the quartiles
    show how much that ratio itself moved.
    """
    if not (a.ok and b.ok):
        return None
    paired = [x / y for x, y in zip(a.times_ms, b.times_ms) if y > 0]
    if not paired:
        return None
    q1, q3 = quartiles(paired)
    return statistics.median(paired), q1, q3

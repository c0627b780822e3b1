"""The experiment loop: for each task and seed, every loss trains the same U-Net; then the report.

A seed fixes the data set (a fresh synthetic draw), the initial weights and the batch order, so the
spread over seeds covers all three; within a seed the losses are compared on identical terms.
"""
from __future__ import annotations

import math
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .data import make_splits
from .metrics import evaluate
from .report import summarise, write_all
from .train import TrainConfig, initial_state, predict, train


@dataclass(frozen=True)
class ExperimentConfig:
    preset: str
    tasks: tuple
    losses: tuple
    seeds: int
    epochs: int
    images: int
    image_size: int
    batch_size: int
    lr: float = 3e-3
    width: int = 8
    settings: dict = field(default_factory=dict)  # loss name -> parameters other than its defaults


class Progress:
    """A text progress bar over epochs: redrawn in place on a terminal, one line per run otherwise."""

    def __init__(self, total: int, stream=None):
        self.total, self.done = total, 0
        self.stream = stream if stream is not None else sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.start = time.perf_counter()
        self._width = 0

    def step(self, text: str, end_of_run: bool = False, count: int = 1) -> None:
        self.done += count
        elapsed = time.perf_counter() - self.start
        eta = elapsed / self.done * (self.total - self.done) if self.done else 0.0
        filled = int(30 * self.done / self.total)
        msg = (f"[{'#' * filled}{'.' * (30 - filled)}] {self.done}/{self.total} epochs  "
               f"{_clock(elapsed)} elapsed, ~{_clock(eta)} left  {text}")
        if self.tty:
            self.stream.write("\r" + msg.ljust(self._width))
            self._width = len(msg)
        elif end_of_run:
            self.stream.write(msg + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def _clock(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    return f"{m}m{s:02d}s"


def _finite(value):
    return value if value is not None and math.isfinite(value) else None


def _environment() -> dict:
    import os
    import platform

    import numpy
    import paddle

    return {"python": platform.python_version(), "paddle": paddle.__version__, "numpy": numpy.__version__,
            "machine": platform.machine(), "cpus": os.cpu_count()}


def _task_runs(task, cfg, tcfg, registry, progress) -> list:
    """Every (seed, loss) run of one task: one record each (history, test metrics, status)."""
    runs = []
    for seed in range(cfg.seeds):
        train_split, val_split, test_split = make_splits(task, cfg.images, cfg.image_size, seed)
        state = initial_state(seed, cfg.width, prior=float(train_split.masks.mean()))
        for loss in cfg.losses:
            label = f"{task} seed {seed} {loss}"
            record = {"task": task, "seed": seed, "loss": loss}
            seen = []

            def on_epoch(epoch, value, vdice, label=label, seen=seen):
                seen.append(epoch)
                progress.step(f"{label} epoch {epoch + 1}/{cfg.epochs} loss {value:.4f} val Dice {vdice:.3f}",
                              end_of_run=epoch + 1 == cfg.epochs)

            try:
                layer = registry[loss](**cfg.settings.get(loss, {}))
                model, history = train(layer, state, train_split, val_split, tcfg, seed, on_epoch)
                record.update(history)
                if history["status"] == "ok":
                    test = evaluate(predict(model, test_split.images), test_split.masks)
                    record["test"] = {k: _finite(v) for k, v in test.items()}
            except Exception as err:  # a loss that cannot train is reported, not fatal to the others
                record.update(status=f"error: {type(err).__name__}: {err}", train_loss=[], val_dice=[])
            if len(seen) < cfg.epochs:  # stopped early: keep the bar's count right and say why
                progress.step(f"{label} stopped: {record['status']}", end_of_run=True,
                              count=cfg.epochs - len(seen))
            runs.append(record)
    return runs


def run_experiment(cfg: ExperimentConfig, out: Path, skipped=(), stream=None) -> dict:
    """Train and evaluate every (task, seed, loss); write the outputs into `out`; return the results."""
    from symloss.paddle import LOSSES

    from .model import UNet, n_parameters

    start = time.perf_counter()
    tcfg = TrainConfig(epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, width=cfg.width)
    progress = Progress(len(cfg.tasks) * cfg.seeds * len(cfg.losses) * cfg.epochs, stream)
    runs = []
    with warnings.catch_warnings():
        # Paddle's BatchNorm says once per process that it tracks running statistics; noise here.
        warnings.filterwarnings("ignore", message="When training, we now always track global mean")
        for task in cfg.tasks:
            runs += _task_runs(task, cfg, tcfg, LOSSES, progress)
    progress.close()
    results = {
        "config": asdict(cfg),
        "losses": list(cfg.losses),
        "skipped": list(skipped),
        "n_parameters": n_parameters(UNet(width=cfg.width)),
        "runs": runs,
        "summary": summarise(runs, cfg.tasks, cfg.losses),
        "wall_seconds": time.perf_counter() - start,
        "survey_source": "Jadon 2020, arXiv:2006.14822, Table III (research/losses.md (e))",
        "environment": _environment(),
    }
    results["config"]["tasks"] = list(cfg.tasks)
    results["config"]["losses"] = list(cfg.losses)
    write_all(results, Path(out))
    return results

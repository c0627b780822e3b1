"""Outputs of an experiment: results.json (every number), table.md, curves.png and metrics.png.

The table sets our skull-stripping numbers next to the survey's (Jadon 2020, arXiv:2006.14822,
Table III as transcribed in research/losses.md (e)): one run each on NFBS MR slices, no variance.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from .metrics import METRICS

# Survey's Table III (Dice, sensitivity, specificity), by symloss loss name.
SURVEY = {
    "bce": (0.968, 0.976, 0.998),
    "weighted_bce": (0.962, 0.966, 0.998),
    "focal": (0.936, 0.952, 0.999),
    "dice": (0.970, 0.981, 0.998),
    "tversky": (0.965, 0.979, 0.996),
    "focal_tversky": (0.977, 0.990, 0.997),
    "sensitivity_specificity": (0.957, 0.980, 0.996),
    "exp_log": (0.972, 0.982, 0.997),
    "log_cosh_dice": (0.989, 0.975, 0.997),
}
SURVEY_TASK = "skull"
TASK_TITLES = {"skull": "skull stripping (the survey's task)", "lesion": "small lesions (about 1% foreground)"}
LABELS = {"dice": "Dice", "sensitivity": "sensitivity", "specificity": "specificity", "hd95": "HD95 (px)"}


def _stats(values) -> dict:
    v = np.array([x for x in values if x is not None and math.isfinite(x)], dtype=float)
    if len(v) == 0:
        return {"mean": None, "std": None, "n": 0}
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else None, "n": int(len(v))}


def summarise(runs: list, tasks, losses) -> dict:
    """{task: {loss: {metric: {mean, std, n}}}} over the seeds that finished ("ok" runs only).

    `dice_vs_first` is the paired difference of test Dice to the first loss of the list, seed by
    seed: the seeds share data, initialisation and batch order, so this spread, unlike the spread
    of Dice itself, is not dominated by how hard each seed's data set happens to be.
    """
    out = {}
    for task in tasks:
        out[task] = {}
        dice = {(r["loss"], r["seed"]): r["test"]["dice"] for r in runs if r["task"] == task and r["status"] == "ok"}
        for loss in losses:
            ok = [r for r in runs if r["task"] == task and r["loss"] == loss and r["status"] == "ok"]
            out[task][loss] = {m: _stats([r["test"][m] for r in ok]) for m in METRICS}
            out[task][loss]["dice_vs_first"] = _stats([
                dice[loss, r["seed"]] - dice[losses[0], r["seed"]] for r in ok
                if dice.get((losses[0], r["seed"])) is not None and dice[loss, r["seed"]] is not None])
            out[task][loss]["failed"] = sum(1 for r in runs if r["task"] == task and r["loss"] == loss
                                            and r["status"] != "ok")
    return out


def _cell(s: dict, digits: int, sign: bool = False) -> str:
    if s["mean"] is None:
        return "–"
    mean = round(s["mean"], digits) + 0.0  # + 0.0 turns -0.0 into 0.0: no "-0.000"
    text = f"{mean:+.{digits}f}" if sign and mean else f"{mean:.{digits}f}"
    return text if s["std"] is None else f"{text} ± {s['std']:.{digits}f}"


def loss_label(loss: str, cfg: dict) -> str:
    """The loss's name, and the parameters the run set, e.g. `weighted_bce` (beta=0.333)."""
    settings = cfg.get("settings", {}).get(loss, {})
    return f"`{loss}`" + (f" ({', '.join(f'{k}={v:.3g}' for k, v in settings.items())})" if settings else "")


def table_markdown(results: dict) -> str:
    """The Markdown table, one section per task; the survey's columns on its own task."""
    cfg = results["config"]
    lines = [
        "# symloss experiment",
        "",
        f"{cfg['preset']} run: {cfg['seeds']} seed(s), {cfg['epochs']} epochs, {cfg['images']} slices of "
        f"{cfg['image_size']}x{cfg['image_size']} per task (60/20/20 train/val/test), batch {cfg['batch_size']}, "
        f"Adam lr {cfg['lr']:g} (cosine), U-Net with {results['n_parameters']} parameters; "
        f"{results['wall_seconds'] / 60:.1f} min. Metrics on the test split, mean ± std over seeds "
        "(sample std; no ± with one seed). The paired column is each seed's Dice minus the first "
        "loss's Dice on the same seed (same data, start and batch order), then mean ± std.",
        "",
    ]
    if results.get("skipped"):
        lines += [f"Survey losses not registered in symloss.paddle (skipped): {', '.join(results['skipped'])}.", ""]
    for task in cfg["tasks"]:
        survey = task == SURVEY_TASK
        head = ["loss"] + [LABELS[m] for m in METRICS] + [f"Dice − `{results['losses'][0]}` (paired)"]
        if survey:
            head += ["survey Dice", "survey sens.", "survey spec."]
        lines += [f"## {task}: {TASK_TITLES[task]}", "", "| " + " | ".join(head) + " |",
                  "|" + "---|" * len(head)]
        for loss in results["losses"]:
            s = results["summary"][task][loss]
            row = [loss_label(loss, cfg)] + [_cell(s[m], 1 if m == "hd95" else 3) for m in METRICS]
            row.append(_cell(s["dice_vs_first"], 3, sign=True) if loss != results["losses"][0] else "0")
            if s["failed"]:
                row[0] += f" ({s['failed']} run(s) failed)"
            if survey:
                row += [f"{v:.3f}" for v in SURVEY[loss]] if loss in SURVEY else ["–"] * 3
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")
    if SURVEY_TASK in cfg["tasks"]:
        lines += ["Survey: Jadon 2020 (arXiv:2006.14822) Table III, NFBS skull stripping, one run per loss, "
                  "no variance reported.", ""]
    return "\n".join(lines)


def _colours(n: int):
    import matplotlib.pyplot as plt

    cmap = plt.get_cmap("tab10" if n <= 10 else "tab20")
    return [cmap(k % cmap.N) for k in range(n)]


def plot_curves(results: dict, path: Path) -> None:
    """Per task: training loss relative to its first epoch, and validation Dice, per epoch (mean ± std)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks, losses = results["config"]["tasks"], results["losses"]
    fig, axes = plt.subplots(len(tasks), 2, figsize=(11, 3.6 * len(tasks)), squeeze=False)
    for row, task in enumerate(tasks):
        for loss, colour in zip(losses, _colours(len(losses))):
            runs = [r for r in results["runs"] if r["task"] == task and r["loss"] == loss and r["status"] == "ok"]
            if not runs:
                continue
            rel = np.array([np.array(r["train_loss"]) / r["train_loss"][0] for r in runs])
            val = np.array([r["val_dice"] for r in runs])
            epochs = np.arange(1, rel.shape[1] + 1)
            for ax, y in ((axes[row, 0], rel), (axes[row, 1], val)):
                ax.plot(epochs, y.mean(0), color=colour, label=loss)
                if len(y) > 1:
                    ax.fill_between(epochs, y.mean(0) - y.std(0, ddof=1), y.mean(0) + y.std(0, ddof=1),
                                    color=colour, alpha=0.15)
        axes[row, 0].set(title=f"{task}: training loss / first epoch's", xlabel="epoch", ylabel="relative loss")
        later = [v for r in results["runs"] if r["task"] == task and r["status"] == "ok" for v in r["val_dice"][1:]]
        low = max(0.0, min(later) - 0.05) if later else 0.0  # from epoch 2 on, so late differences show
        axes[row, 1].set(title=f"{task}: validation Dice", xlabel="epoch", ylabel="Dice", ylim=(low, 1))
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center right", fontsize=8)
    fig.tight_layout(rect=(0, 0, 0.82, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_metrics(results: dict, path: Path) -> None:
    """Per task and metric: a bar per loss (mean, std as error bar); the survey's values as black ticks."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks, losses = results["config"]["tasks"], results["losses"]
    fig, axes = plt.subplots(len(tasks), len(METRICS), figsize=(3.4 * len(METRICS), 3.4 * len(tasks)),
                             squeeze=False)
    x = np.arange(len(losses))
    colours = _colours(len(losses))
    for row, task in enumerate(tasks):
        for col, metric in enumerate(METRICS):
            ax = axes[row, col]
            stats = [results["summary"][task][loss][metric] for loss in losses]
            mean = [s["mean"] if s["mean"] is not None else np.nan for s in stats]
            err = [s["std"] if s["std"] is not None else 0.0 for s in stats]
            ax.bar(x, mean, yerr=err if any(err) else None, color=colours, capsize=2)
            shown = [m for m in mean if np.isfinite(m)]
            if task == SURVEY_TASK and metric != "hd95":
                k = ("dice", "sensitivity", "specificity").index(metric)
                sx = [i for i, loss in enumerate(losses) if loss in SURVEY]
                sy = [SURVEY[losses[i]][k] for i in sx]
                ax.scatter(sx, sy, marker="_", s=200, color="black", label="survey (one run each)", zorder=3)
                shown += sy
                if sx and metric == "dice":
                    ax.legend(fontsize=7, loc="lower left")
            if metric != "hd95" and shown:  # the axis starts near the lowest value, so differences show
                ax.set_ylim(max(0.0, min(shown) - 0.05), 1.0)
            ax.set_xticks(x, losses, rotation=60, ha="right", fontsize=7)
            ax.set_title(f"{task}: {LABELS[metric]}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_all(results: dict, out: Path) -> list:
    """Write the four outputs into `out`; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "results.json", out / "table.md", out / "curves.png", out / "metrics.png"]
    paths[0].write_text(json.dumps(results, indent=1, allow_nan=False, default=_json_default) + "\n",
                        encoding="utf-8")
    paths[1].write_text(table_markdown(results), encoding="utf-8")
    plot_curves(results, paths[2])
    plot_metrics(results, paths[3])
    return paths


def _json_default(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")

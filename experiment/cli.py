"""`symloss experiment`: argument definitions (importing this module must not import paddle)."""
from __future__ import annotations

import sys
from pathlib import Path

# The survey's nine losses (Jadon 2020, Table III), in its order: the default selection.
SURVEY_LOSSES = ("bce", "weighted_bce", "focal", "dice", "tversky", "focal_tversky",
                 "sensitivity_specificity", "exp_log", "log_cosh_dice")
# Parameters the experiment sets where a loss's default would not be the survey's loss. weighted_bce
# defaults to beta = 1, where it is BCE exactly; the survey's code (SemSegLoss, by the survey's author)
# trains it with pos_weight = beta / (1 - beta) at beta = 0.25, that is 1/3: positives weigh a third.
SURVEY_SETTINGS = {"weighted_bce": {"beta": 1 / 3}}
TASK_CHOICES = {"skull": ("skull",), "lesion": ("lesion",), "both": ("skull", "lesion")}

# Presets: the default run (under an hour on 2 CPU cores with nine losses) and --quick (under 5 min).
PRESETS = {
    "default": {"seeds": 3, "epochs": 10, "images": 300, "image_size": 64, "batch_size": 8},
    "quick": {"seeds": 1, "epochs": 8, "images": 120, "image_size": 48, "batch_size": 8},
}


def add_arguments(parser) -> None:
    """Add the experiment's options to its argparse sub-parser."""
    d = PRESETS["default"]
    parser.add_argument("--losses", default=None,
                        help="comma-separated loss names, or 'all' for every registered loss "
                             "(default: the survey's nine that are registered)")
    parser.add_argument("--task", choices=sorted(TASK_CHOICES), default="both",
                        help="skull (skull stripping), lesion (about 1%% foreground) or both (default)")
    parser.add_argument("--seeds", type=int, default=None, help=f"seeds 0..N-1 (default {d['seeds']}; --quick: 1)")
    parser.add_argument("--epochs", type=int, default=None,
                        help=f"training epochs (default {d['epochs']}; --quick: {PRESETS['quick']['epochs']})")
    parser.add_argument("--quick", action="store_true",
                        help="smoke-test size: one seed, fewer slices and epochs (minutes, not an hour)")
    parser.add_argument("--out", default="experiment-out", help="output folder (default ./experiment-out)")
    parser.add_argument("--images", type=int, default=None,
                        help=f"slices per task, split 60/20/20 (default {d['images']}; --quick: "
                             f"{PRESETS['quick']['images']})")
    parser.add_argument("--image-size", type=int, default=None,
                        help=f"slice side in pixels, a multiple of 4 (default {d['image_size']}; --quick: "
                             f"{PRESETS['quick']['image_size']})")
    parser.add_argument("--batch-size", type=int, default=None, help=f"batch size (default {d['batch_size']})")


def _fail(message: str) -> int:
    print(f"symloss experiment: error: {message}", file=sys.stderr)
    return 2


def select_losses(spec, registered) -> tuple:
    """(chosen, skipped): `spec` is None (survey's nine, registered ones), 'all', or 'a,b,...'."""
    if spec is None:
        return tuple(n for n in SURVEY_LOSSES if n in registered), tuple(n for n in SURVEY_LOSSES
                                                                          if n not in registered)
    if spec.strip() == "all":
        return tuple(sorted(registered)), ()
    names = tuple(dict.fromkeys(n.strip() for n in spec.split(",") if n.strip()))
    unknown = [n for n in names if n not in registered]
    if unknown or not names:
        raise ValueError(f"--losses got {', '.join(unknown) or repr(spec)}; registered losses: "
                         f"{', '.join(sorted(registered))}")
    return names, ()


def run(args) -> int:
    """Run the experiment; imports paddle lazily."""
    preset = "quick" if args.quick else "default"
    values = dict(PRESETS[preset])
    for key in values:
        if getattr(args, key) is not None:
            values[key] = getattr(args, key)
    for key, low in (("seeds", 1), ("epochs", 2), ("images", 10), ("image_size", 16), ("batch_size", 1)):
        if values[key] < low:
            return _fail(f"--{key.replace('_', '-')} got {values[key]}; expected at least {low}")
    if values["image_size"] % 4:
        return _fail(f"--image-size got {values['image_size']}; expected a multiple of 4 (two 2x poolings)")

    from symloss.paddle import LOSSES

    from .runner import ExperimentConfig, run_experiment

    try:
        losses, skipped = select_losses(args.losses, LOSSES)
    except ValueError as err:
        return _fail(str(err))
    if not losses:
        return _fail("none of the survey's losses is registered; choose some with --losses")
    if skipped:
        print(f"symloss experiment: not registered, skipped: {', '.join(skipped)}", file=sys.stderr)
    settings = {name: SURVEY_SETTINGS[name] for name in losses if name in SURVEY_SETTINGS}
    cfg = ExperimentConfig(preset=preset, tasks=TASK_CHOICES[args.task], losses=losses, settings=settings,
                           **values)
    out = Path(args.out)
    results = run_experiment(cfg, out, skipped=skipped)
    print((out / "table.md").read_text(encoding="utf-8"))
    print(f"wrote {out / 'results.json'}, {out / 'table.md'}, {out / 'curves.png'}, {out / 'metrics.png'}")
    failed = [f"{r['task']}/seed {r['seed']}/{r['loss']}: {r['status']}" for r in results["runs"]
              if r["status"] != "ok"]
    if failed:
        print("symloss experiment: runs that did not finish:\n  " + "\n  ".join(failed), file=sys.stderr)
        return 1
    return 0

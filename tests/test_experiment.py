"""`symloss experiment`: a real (tiny) run end to end, plus the metrics' and the data's conventions.

The end-to-end run is `--quick` shrunk further (32x32 slices, 40 per task, 4 epochs) so that the
survey's nine losses on both tasks train in well under a minute on 2 CPU cores.
"""
import json
import math
import subprocess
import sys

import numpy as np
import pytest

from symloss.experiment import metrics
from symloss.experiment.cli import SURVEY_LOSSES, select_losses
from symloss.experiment.data import make_splits, make_task

TINY = ["--seeds", "1", "--epochs", "4", "--images", "40", "--image-size", "32", "--batch-size", "8"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    pytest.importorskip("paddle")
    from symloss.compiler.commands.cli import main

    out = tmp_path_factory.mktemp("experiment")
    code = main(["experiment", "--quick", *TINY, "--out", str(out)])
    return code, out, json.loads((out / "results.json").read_text(encoding="utf-8"))


def test_quick_run_writes_every_output(tiny_run):
    code, out, results = tiny_run
    assert code == 0
    for name in ("results.json", "table.md", "curves.png", "metrics.png"):
        assert (out / name).stat().st_size > 0, name
    for name in ("curves.png", "metrics.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_default_losses_are_the_registered_survey_losses(tiny_run):
    from symloss.paddle import LOSSES

    _, _, results = tiny_run
    assert results["losses"] == [n for n in SURVEY_LOSSES if n in LOSSES]
    assert results["skipped"] == [n for n in SURVEY_LOSSES if n not in LOSSES]
    pairs = {(r["task"], r["loss"]) for r in results["runs"]}
    assert pairs == {(t, n) for t in ("skull", "lesion") for n in results["losses"]}
    assert all(r["status"] == "ok" for r in results["runs"])


def test_metrics_are_in_range(tiny_run):
    _, _, results = tiny_run
    for r in results["runs"]:
        test = r["test"]
        for name in ("dice", "sensitivity", "specificity"):
            assert 0.0 <= test[name] <= 1.0, (r["task"], r["loss"], name, test[name])
        assert test["hd95"] >= 0.0
        assert all(0.0 <= d <= 1.0 for d in r["val_dice"])
    for task, per_loss in results["summary"].items():
        for loss, stats in per_loss.items():
            assert stats["dice"]["n"] == 1 and stats["dice"]["std"] is None  # one seed: no spread


def test_training_lowered_every_loss(tiny_run):
    _, _, results = tiny_run
    for r in results["runs"]:
        assert len(r["train_loss"]) == 4 and all(math.isfinite(v) for v in r["train_loss"])
        assert r["train_loss"][-1] < r["train_loss"][0], (r["task"], r["loss"], r["train_loss"])


def test_table_lists_every_loss_with_the_survey_numbers(tiny_run):
    _, out, results = tiny_run
    table = (out / "table.md").read_text(encoding="utf-8")
    assert "## skull" in table and "## lesion" in table and "survey Dice" in table
    for loss in results["losses"]:
        assert table.count(f"| `{loss}` |") + table.count(f"| `{loss}` (") == 2  # one row per task
    if "bce" in results["losses"]:
        assert "| 0.968 | 0.976 | 0.998 |" in table  # the survey's BCE row, next to ours


def test_weighted_bce_runs_at_the_survey_codes_weight_not_as_bce(tiny_run):
    """At its default beta = 1 weighted_bce is BCE, and the two runs would be the same run."""
    _, out, results = tiny_run
    assert results["config"]["settings"] == {"weighted_bce": {"beta": 1 / 3}}
    runs = {(r["task"], r["loss"]): r["train_loss"] for r in results["runs"]}
    for task in ("skull", "lesion"):
        assert runs[task, "weighted_bce"] != runs[task, "bce"]
    assert "| `weighted_bce` (beta=0.333) |" in (out / "table.md").read_text(encoding="utf-8")


def test_unknown_loss_is_a_clear_error(capsys):
    pytest.importorskip("paddle")
    from symloss.compiler.commands.cli import main

    assert main(["experiment", "--losses", "dcie", "--out", "unused"]) == 2
    assert "--losses got dcie; registered losses:" in capsys.readouterr().err


def test_loss_selection():
    registered = {"bce": 1, "dice": 2, "jaccard": 3}
    assert select_losses(None, registered) == (("bce", "dice"), tuple(n for n in SURVEY_LOSSES
                                                                       if n not in ("bce", "dice")))
    assert select_losses("all", registered) == (("bce", "dice", "jaccard"), ())
    assert select_losses("jaccard, bce,bce", registered) == (("jaccard", "bce"), ())
    with pytest.raises(ValueError, match="registered losses: bce, dice, jaccard"):
        select_losses("bce,nope", registered)


def test_cli_module_does_not_import_paddle():
    code = "import sys, symloss.experiment.cli; print('paddle' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"


# Metrics: conventions for empty masks and a known distance -------------------------------------

def test_dice_sensitivity_specificity_conventions():
    empty, full = np.zeros((8, 8), bool), np.ones((8, 8), bool)
    one = empty.copy()
    one[2:4, 2:4] = True
    assert metrics.dice(empty, empty) == 1.0 and metrics.dice(one, empty) == 0.0 and metrics.dice(one, one) == 1.0
    assert math.isnan(metrics.sensitivity(one, empty)) and math.isnan(metrics.specificity(one, full))
    assert metrics.sensitivity(empty, one) == 0.0 and metrics.specificity(empty, one) == 1.0
    assert metrics.evaluate(np.stack([one, empty]), np.stack([one, one]))["dice"] == 0.5


def test_hd95_of_a_shifted_square_is_the_shift():
    a = np.zeros((40, 40), bool)
    a[10:20, 10:20] = True
    assert metrics.hd95(a, a) == 0.0
    assert metrics.hd95(a, np.roll(a, 3, axis=1)) == pytest.approx(3.0)
    empty = np.zeros_like(a)
    assert metrics.hd95(empty, empty) == 0.0
    assert metrics.hd95(a, empty) == metrics.hd95(empty, a) == pytest.approx(math.hypot(40, 40))


# Data: deterministic, the advertised foreground fractions ----------------------------------------

def test_data_is_deterministic_and_seeded():
    a, b = make_task("lesion", 4, 32, seed=1), make_task("lesion", 4, 32, seed=1)
    assert np.array_equal(a.images, b.images) and np.array_equal(a.masks, b.masks)
    assert not np.array_equal(a.images, make_task("lesion", 4, 32, seed=2).images)
    # slice k does not depend on how many slices are drawn
    assert np.array_equal(make_task("skull", 2, 32, seed=0).images, make_task("skull", 5, 32, seed=0).images[:2])


def test_tasks_have_the_advertised_shapes_and_foreground():
    skull = make_task("skull", 12, 48, seed=0)
    lesion = make_task("lesion", 12, 48, seed=0)
    for data in (skull, lesion):
        assert data.images.shape == (12, 1, 48, 48) and data.images.dtype == np.float32
        assert data.masks.shape == (12, 48, 48) and data.masks.dtype == np.int64
        assert set(np.unique(data.masks)) == {0, 1}
        assert all(m.any() and not m.all() for m in data.masks)  # sensitivity and specificity defined
    assert 0.15 < skull.masks.mean() < 0.35
    assert 0.004 < lesion.masks.mean() < 0.02
    train, val, test = make_splits("skull", 10, 32, seed=0)
    assert (len(train), len(val), len(test)) == (6, 2, 2)

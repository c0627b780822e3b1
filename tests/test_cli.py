"""The command line: list, show, new, check; its help, its output through a pipe, its summary."""
import importlib.util
import re
import shlex
import subprocess
import sys

import numpy as np
import pytest

from symloss.compiler.commands.cli import main
from symloss.compiler.commands.report import summary
from symloss.compiler.frontend.loader import bundled_dir, load_registry
from symloss.compiler.proof.check import Outcome

from registry_names import NAMES


def test_list_shows_every_loss(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in NAMES:
        assert f"\n{name} " in out
    assert f"{len(NAMES)} losses" in out


def test_show_prints_formula_parameters_claims_and_code(capsys):
    assert main(["show", "tversky"]) == 0
    out = capsys.readouterr().out
    for piece in ("formula:", "LaTeX:", "\\frac", "alpha = 0.3", "[0, inf)", "claims:", "dice(smooth=2*s)",
                  "def tversky_loss(", "ctx.target_sum(p)"):
        assert piece in out, piece


def test_show_unknown_name_is_a_clear_error(capsys):
    assert main(["show", "dcie"]) == 2
    assert "no loss named 'dcie'" in capsys.readouterr().err


def test_check_prints_the_table_and_the_erratum(capsys):
    assert main(["check", "tversky"]) == 0
    out = capsys.readouterr().out
    assert "erratum refuted" in out and "counterexample: C=" in out and "proved" in out


def test_new_writes_a_spec_that_loads_checks_and_builds(tmp_path, capsys):
    assert main(["new", "my_loss", "--dir", str(tmp_path)]) == 0
    path = tmp_path / "my_loss.py"
    registry = load_registry([path])
    assert "my_loss" in registry
    assert main(["check", "my_loss", "--spec", str(path)]) == 0
    assert main(["build", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    assert (tmp_path / "out" / "my_loss.py").exists()
    assert main(["new", "my_loss", "--dir", str(tmp_path)]) == 2
    assert "exists already" in capsys.readouterr().err


def test_new_titles_a_name_that_ends_in_loss_without_saying_loss_twice(tmp_path, capsys):
    assert main(["new", "my_loss", "--dir", str(tmp_path)]) == 0
    assert main(["new", "my_dice", "--dir", str(tmp_path)]) == 0
    loss_text = (tmp_path / "my_loss.py").read_text(encoding="utf-8")
    dice_text = (tmp_path / "my_dice.py").read_text(encoding="utf-8")
    assert loss_text.startswith('"""My loss: ') and 'title="My",' in loss_text
    assert dice_text.startswith('"""My dice loss: ') and 'title="My dice",' in dice_text
    assert main(["build", str(tmp_path / "my_loss.py"), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    built = (tmp_path / "out" / "my_loss.py").read_text(encoding="utf-8")
    assert "My loss. " in built and "my loss loss" not in built.lower()


@pytest.mark.parametrize("command, text", [("show", "a registered loss"), ("new", "snake_case name of the new loss")])
def test_positional_name_has_help(command, text, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    out = capsys.readouterr().out
    assert re.search(rf"\n  name +{text}", out), out


@pytest.mark.parametrize("argv", [["show", "dice"], ["check", "dice"], ["list"]])
def test_a_closed_pipe_ends_the_command_quietly(argv):
    """`symloss show dice | head -2`: the reader goes away; no BrokenPipeError traceback, exit 141.

    The reading end is closed before the command writes anything, so every write meets a closed pipe
    (a real `| head` closes it at a moment that depends on scheduling)."""
    proc = subprocess.Popen([sys.executable, "-m", "symloss.compiler.commands.cli", *argv],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=300) == 141, err
    assert "Traceback" not in err and "BrokenPipeError" not in err and "Exception ignored" not in err, err


def test_show_piped_to_head_prints_its_first_lines():
    proc = subprocess.run(f"{shlex.quote(sys.executable)} -m symloss.compiler.commands.cli show dice | head -2",
                          shell=True, capture_output=True, text=True, timeout=300)
    assert proc.stdout.splitlines()[0].startswith("dice: Dice (region)") and len(proc.stdout.splitlines()) == 2
    assert "Traceback" not in proc.stderr and "BrokenPipeError" not in proc.stderr, proc.stderr


def test_summary_says_cpu_seconds_and_wall_time():
    outcome = Outcome(loss="dice", claim="the loss >= 0", expect="holds", result="holds", method="numeric",
                      seconds=1.0)
    refuted = Outcome(loss="dice", claim="x", expect="refuted", result="refuted", method="numeric", seconds=1.0)
    text = summary([outcome, refuted], cpu_seconds=17.94, wall_seconds=15.36)
    assert text == ("2 claims: 0 proved, 1 held numerically, 1 errata refuted as expected, 0 failed "
                    "(17.9 CPU seconds, 15.4 s wall time)")


def test_single_bundled_spec_with_out_gives_one_standalone_module(tmp_path, capsys):
    """`symloss build specs/dice.py --out DIR` writes DIR/dice.py alone, importable by its path."""
    out = tmp_path / "out"
    assert main(["build", str(bundled_dir() / "dice.py"), "--out", str(out), "--quiet"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["dice.py"]
    text = capsys.readouterr().out
    assert "1 specs -> standalone modules in" in text
    paddle = pytest.importorskip("paddle")
    spec = importlib.util.spec_from_file_location("dice_alone", out / "dice.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # no package: a relative import would fail here
    from symloss.paddle import dice_loss

    x = paddle.to_tensor(np.random.default_rng(0).normal(size=(2, 3, 5, 5)))
    y = paddle.to_tensor(np.random.default_rng(1).integers(0, 3, size=(2, 5, 5)))
    np.testing.assert_allclose(module.dice_loss(x, y).numpy(), dice_loss(x, y).numpy(), rtol=1e-12)


def test_build_of_a_folder_without_specs_is_a_clear_error(tmp_path, capsys):
    assert main(["build", str(tmp_path), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    assert f"no spec in {tmp_path}" in capsys.readouterr().err and not (tmp_path / "out").exists()

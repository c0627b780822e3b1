"""The command line: list, show, new, check."""
from symloss.compiler.commands.cli import main
from symloss.compiler.frontend.loader import load_registry

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
                  "def tversky_loss(", "ctx.psum(g * p)"):
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

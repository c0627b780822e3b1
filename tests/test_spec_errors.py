"""A malformed spec is a SpecError naming its file and line, with no traceback, and leaves the
output folder untouched; odd text in a spec still yields valid, importable code."""
import importlib.util

import pytest

from spec_factory import line_of, write_spec
from symloss.compiler.commands.cli import main
from symloss.compiler.frontend.errors import SpecError
from symloss.compiler.frontend.loader import load_registry

BROKEN = {
    "unknown symbol": (
        ("tp = Sum(", "smoth = __import__('sympy').Symbol('smoth')\ntp = Sum("),
        ("+ smooth),", "+ smoth),"),
        "smoth = ",
        "not a parameter",
    ),
    "default outside domain": (
        ('Param("smooth", 1.0, domain=(0, None)', 'Param("smooth", -1.0, domain=(0, None)'),
        None,
        'Param("smooth"',
        "outside its domain",
    ),
    "missing metadata": (('    paper="arXiv:1606.04797",\n', ""), None, "LOSS = Loss(", "missing paper="),
    "syntax error": (("params=[smooth],", "params=[smooth],,"), None, "params=[smooth]", "syntax error"),
    "wrong index": (("tp = Sum(p[c, i] * g[c, i], i)", "tp = Sum(p[i, c] * g[c, i], i)"), None, "tp = Sum(",
                    "fields are indexed [c, i]"),
    "name not an identifier": (("name='my_dice'", "name='my-dice'"), None, "LOSS = Loss(", "snake_case"),
}


def make(tmp_path, case):
    first, second, _, _ = BROKEN[case]
    path = write_spec(tmp_path, edit=first)
    if second:
        text = path.read_text().replace(*second)
        path.write_text(text)
    return path


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_malformed_spec_names_file_and_line(tmp_path, case):
    path = make(tmp_path, case)
    with pytest.raises(SpecError) as info:
        load_registry([path])
    err = info.value
    assert err.path == str(path)
    assert err.line == line_of(path, BROKEN[case][2])
    assert BROKEN[case][3] in err.message


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_malformed_spec_leaves_output_untouched_and_prints_no_traceback(tmp_path, capsys, case):
    out = tmp_path / "out"
    out.mkdir()
    keep = out / "my_dice.py"
    keep.write_text("# previous build\n")
    path = make(tmp_path, case)
    assert main(["build", str(path), "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert f"{path}:" in captured.err and "Traceback" not in captured.err + captured.out
    assert sorted(p.name for p in out.iterdir()) == ["my_dice.py"]
    assert keep.read_text() == "# previous build\n"


def test_a_name_that_shadows_a_registered_loss_is_an_error(tmp_path):
    path = write_spec(tmp_path, filename="another_dice.py", name="dice")
    with pytest.raises(SpecError, match="already registered"):
        load_registry([path])


def test_a_false_claim_stops_the_build_and_changes_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    path = write_spec(tmp_path, edit=("claims=[Property.bounded(0, 1)]", "claims=[Property.bounded(0, 0.25)]"))
    assert main(["build", str(path), "--out", str(out)]) == 1
    assert "build stopped: 1 claims failed" in capsys.readouterr().out
    assert list(out.iterdir()) == []


ODD = 'Quotes """ and \'\'\' and "\\\\" backslashes \\\\ {braces} {{ jinja }} {% raw %} naïve µ→∞ end\\\\'


def test_odd_text_in_a_spec_still_gives_importable_code(tmp_path):
    paddle = pytest.importorskip("paddle")
    out = tmp_path / "out"
    path = write_spec(tmp_path, summary=ODD, notes=ODD)
    assert main(["build", str(path), "--out", str(out), "--quiet"]) == 0
    module_path = out / "my_dice.py"
    spec = importlib.util.spec_from_file_location("my_dice_standalone", module_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert "naïve µ→∞" in module.my_dice_loss.__doc__
    x = paddle.randn([2, 3, 4, 4])
    y = paddle.randint(0, 3, [2, 4, 4])
    assert 0.0 <= float(module.my_dice_loss(x, y)) <= 1.0
    assert "symloss" not in "".join(
        line for line in module_path.read_text(encoding="utf-8").splitlines() if line.startswith(("import", "from"))
    )

"""A malformed spec is a SpecError naming its file and line, with no traceback, and leaves the
output folder untouched; odd text in a spec still yields valid, importable code."""
import importlib.util

import pytest

from spec_factory import line_of, write_formula, write_spec
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


# ---------------------------------------------------------------- specs that used to build and then fail at every call

def load_error(path) -> SpecError:
    with pytest.raises(SpecError) as info:
        load_registry([path])
    err = info.value
    assert err.path == str(path) and not err.internal, err
    return err


GAMMA = 'gamma = Param("gamma", 2.0, domain=(0, None), doc="focusing exponent")\n'
REFUSED = {  # name -> (definitions, expr, the line's text, words the message must hold)
    "class index as a value": (GAMMA + "ti = p[c, i]\nfocused = (1 - ti) ** (1 - gamma * Indicator(c))\n",
                               "Mean(focused * g[c, i], i)", "focused = ", ("class index c as a number", "weight[c]")),
    "pixel index as a value": ("ramp = Mean(i * p[c, i], i)\n", "ramp", "ramp = ", ("pixel index i as a number",)),
    "division by a literal zero": ("broken = Sum(p[c, i], i) / 0\n", "broken", "broken = ",
                                   ("identically 0", "change the formula")),
    "division by a difference that is zero": (
        "broken = Sum(p[c, i], i) / (Sum(p[c, i], i) - Sum(p[c, i], i))\n", "broken", "broken = ",
        ("identically 0",)),
    "exponent without a domain": ('gamma = Param("gamma", 2.0, doc="exponent")\n',
                                  "Mean((1 - p[c, i]) ** gamma * g[c, i], i)", 'gamma = Param(',
                                  ("'gamma' has no domain", "domain=(0, None)")),
    "denominator without a domain": ('smooth = Param("smooth", 1.0, doc="smoothing")\n',
                                     "Sum(p[c, i] * g[c, i], i) / (Sum(p[c, i], i) + smooth)", 'smooth = Param(',
                                     ("'smooth' has no domain", "a denominator")),
    "primitive defined in the spec": (
        "class Blur(Primitive):\n    nargs = 1\n    scope = 'image'\n    runtime = 'blur'\n",
        "Mean(Blur(g[c, i]) * p[c, i], i)", "class Blur(", ("has no Paddle implementation", "paddle(ctx")),
    "primitive of a per-class value": ("", "Mean(DistanceField(Sum(g[c, i], i)) * p[c, i], i)", "expr=Mean(",
                                       ("arguments of DistanceField are images",)),
    "log of a term the target zeroes": ("shrunk = log(g[c, i] * p[c, i])\n", "Mean(shrunk, i)", "shrunk = ",
                                        ("outside the class", "g[c, i] * log(p[c, i])")),
    "division by a term the target zeroes": ("odds = p[c, i] / ((1 - g[c, i]) * p[c, i])\n", "Mean(odds, i)",
                                             "odds = ", ("inside the class", "a denominator")),
    "function the compiler cannot lower": ("from sympy import sin\nwave = Mean(sin(p[c, i]), i)\n", "wave",
                                           "wave = ", ("sin", "cannot lower")),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_specs_that_would_fail_at_every_call_are_refused_at_their_line(tmp_path, case):
    definitions, expr, line_text, words = REFUSED[case]
    params = "[gamma]" if "gamma = Param" in definitions else "[smooth]" if "smooth = Param" in definitions else "[]"
    path = write_formula(tmp_path, expr, definitions, params=params)
    err = load_error(path)
    assert err.line == line_of(path, line_text), (err.line, str(err))
    for word in words:
        assert word in err.message, err.message


def test_a_parameter_with_a_domain_may_stand_in_an_exponent(tmp_path):
    path = write_formula(tmp_path, "Mean((1 - p[c, i]) ** gamma * g[c, i], i)", GAMMA, params="[gamma]")
    assert "my_loss" in load_registry([path])


def test_a_denominator_that_vanishes_once_sums_are_expanded_is_a_spec_error_not_nan(tmp_path):
    from symloss.compiler.backend.emit import render_loss

    zero = "Sum(p[c, i] * g[c, i], i) + Sum(p[c, i] * (1 - g[c, i]), i) - Sum(p[c, i], i)"
    path = write_formula(tmp_path, "Sum(p[c, i] * g[c, i], i) / denominator", f"denominator = {zero}\n")
    registry = load_registry([path])
    with pytest.raises(SpecError) as info:
        render_loss(registry["my_loss"], registry)
    assert info.value.path == str(path) and info.value.line is not None and "identically zero" in info.value.message


# ---------------------------------------------------------------- errors at the right line, with a fix

def test_a_name_clash_points_at_the_name_keyword(tmp_path):
    path = write_formula(tmp_path, "1 - Sum(p[c, i] * g[c, i], i)", name="dice", filename="my_dice.py",
                         title="a loss whose name clashes")
    err = load_error(path)
    assert "already registered" in err.message and err.line == line_of(path, "name='dice'")


def test_a_free_index_is_reported_where_it_is_written_as_an_index(tmp_path):
    path = write_formula(tmp_path, "total", "j = Symbol('j', integer=True)\ntotal = Sum(p[c, i], i) + p[c,j]\n")
    err = load_error(path)
    assert err.line == line_of(path, "total = ")
    assert "p[c, j]" in err.message and "Sum(expr, i)" in err.message and "Param(" not in err.message


def test_an_unknown_reference_is_reported_at_its_line_with_the_closest_name(tmp_path):
    path = write_formula(tmp_path, "log(term)", "term = ref('dise', smooth=1)\n")
    err = load_error(path)
    assert err.line == line_of(path, "term = ") and "did you mean ref('dice')" in err.message


def test_a_misspelt_name_keeps_pythons_suggestion(tmp_path):
    path = write_formula(tmp_path, "ref('dice', smooth=smoth)", 'smooth = Param("smooth", 1.0, domain=(0, None))\n',
                         params="[smooth]")
    err = load_error(path)
    assert "NameError" in err.message and "Did you mean: 'smooth'?" in err.message
    assert err.line == line_of(path, "smooth=smoth")


def test_a_false_claim_names_the_spec_file_and_the_claims_line(tmp_path, capsys):
    claims = "[\n        Property.nonnegative(),\n        Property.bounded(0, 0.1),\n    ]"
    path = write_formula(tmp_path, "ref('dice', smooth=1)", claims=claims)
    assert main(["build", str(path), "--out", str(tmp_path / "out")]) == 1
    out = capsys.readouterr().out
    assert f"{path}:{line_of(path, 'Property.bounded(0, 0.1)')}: claim" in out and "expect=\"refuted\"" in out


def test_every_function_a_formula_may_use_has_a_lowering_and_a_derivative():
    import sympy as sp

    from symloss.compiler.backend.ir import TENSORS
    from symloss.compiler.backend.printer import PaddlePrinter
    from symloss.compiler.frontend.functions import ELEMENTWISE
    from symloss.compiler.proof.tape import Tape

    y = sp.Symbol("y", real=True)
    for function in ELEMENTWISE:
        args = (TENSORS["p"], 1) if function in (sp.Max, sp.Min) else (TENSORS["p"],)
        assert PaddlePrinter().doprint(function(*args))
        tape = Tape([function(y, 1) if function in (sp.Max, sp.Min) else function(y)], [y])
        assert tape.backward(tape.forward([0.5]), [1.0])

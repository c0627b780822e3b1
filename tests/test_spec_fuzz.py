"""The spec fuzzer: every spec drawn from the DSL's grammar ends in exactly one of two outcomes.

(a) a SpecError (or a failed claim) naming the spec file and a line of it, never a traceback and never a
    failure of the compiler itself (`SpecError.internal`); or
(b) a module that imports, runs on random inputs at C in {1, 2, 4} (every activation, reduction and
    common keyword, class indices with ignored pixels or soft targets), and matches the spec's 50-digit
    oracle in float64, values and gradients, at tests/test_oracle.py's tolerance, with no NaN where the
    oracle is finite.

The `ci` profile runs FUZZ_EXAMPLES["ci"] specs; SYMLOSS_PROFILE=deep runs thousands (SYMLOSS_FUZZ_EXAMPLES
overrides either count). Every failure the fuzzer ever found is kept in REGRESSIONS below and runs on every
test run. A spec whose claim fails is still compiled and run: its claim stops the build, its code must be
right all the same.
"""
from __future__ import annotations

import os
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st

from spec_compile import compare, failed_claims, function_of, load_spec, random_case
from spec_grammar import specs
from symloss.compiler.frontend.errors import SpecError

pytest.importorskip("paddle")

FUZZ_EXAMPLES = {"ci": 250, "deep": 3000}
PROFILE = os.environ.get("SYMLOSS_PROFILE", "ci")
CLASSES = (1, 2, 4)
OUTCOMES: Counter = Counter()
_FOLDER = Path(tempfile.mkdtemp(prefix="symloss-fuzz-"))


def outcome(text: str, seed: int, folder: Path = _FOLDER) -> str:
    """Compile one spec and run it; returns "refused", "claim failed" or "compiled", or fails the test."""
    path = folder / "fuzzed.py"
    path.write_text(text, encoding="utf-8")
    lines = len(text.splitlines())
    try:
        loss, registry = load_spec(path)
        failed = failed_claims(loss, registry)
        for o in failed:
            assert o.path == str(path) and o.line is not None and 1 <= o.line <= lines, (o, o.where)
        function = function_of(loss, registry)
    except SpecError as err:
        assert not err.internal, f"the compiler failed: {err}\n{text}"
        assert err.path == str(path) and isinstance(err.line, int) and 1 <= err.line <= lines, f"{err}\n{text}"
        return "refused"
    rng = np.random.default_rng(seed)
    for classes in CLASSES:
        case = random_case(loss, rng, classes)
        problem = compare(loss, registry, function, case)
        assert not problem, f"{problem}\n{text}"
    return "claim failed" if failed else "compiled"


EXAMPLES = int(os.environ.get("SYMLOSS_FUZZ_EXAMPLES", FUZZ_EXAMPLES.get(PROFILE, FUZZ_EXAMPLES["ci"])))


@settings(max_examples=EXAMPLES, deadline=None,
          phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
@given(text=specs(), seed=st.integers(0, 2**32 - 1))
def test_every_drawn_spec_is_refused_at_a_line_or_compiles_to_code_that_matches_the_oracle(text, seed):
    result = outcome(text, seed)
    event(result)
    OUTCOMES[result] += 1


def test_report_fuzz_outcomes(capsys):
    """Prints how the drawn specs ended (run after the fuzzer in file order); asserts both outcomes occur."""
    if not OUTCOMES:
        pytest.skip("the fuzzer did not run in this session")
    with capsys.disabled():
        print(f"\nspec fuzzer ({PROFILE}): {sum(OUTCOMES.values())} specs: {dict(sorted(OUTCOMES.items()))}")
    assert OUTCOMES["compiled"] > 0 and OUTCOMES["refused"] > 0


# Every failure the fuzzer found, kept as it was drawn (shrunk), with the seed of its inputs.
def spec_text(expr: str, definitions: str = "", params: str = "", claims: str = "") -> str:
    """A spec file as the grammar writes it, around one formula."""
    return (f'"""A spec drawn by the fuzzer."""\nfrom symloss.compiler.dsl import *  # noqa: F401,F403\n'
            f'{definitions}EXPR = {expr}\n\nLOSS = Loss(\n    name="fuzzed",\n    title="Fuzzed",\n'
            f'    family="region",\n    paper="arXiv:0000.00000",\n    summary="A drawn formula.",\n'
            f'    params=[{params}],\n    expr=EXPR,\n    claims=[\n{claims}    ],\n)\n')


# name -> (spec text, seed of its inputs, the outcome it must now have)
REGRESSIONS: dict[str, tuple[str, int, str]] = {
    # a formula of constants compiled to `loss = 2`, which ctx.reduce could not shape: now refused
    "constant formula": (spec_text("2"), 0, "refused"),
    # the fused cross-entropy kernel dropped a scalar weight (Paddle's kernel read only tensor class weights)
    "scalar weight of the fused cross-entropy": (
        spec_text('ref("cross_entropy", weight=2, label_smoothing=0)'), 0, "compiled"),
    # the oracle's gradient through sqrt of a negative sum was complex, and crashed float()
    "root of a negative sum": (spec_text("0.25 * p[c, i] + (1 - 0.25) * t0", "t0 = sqrt(Sum(x[c, i], i))\n"), 0,
                               "compiled"),
    # sigmoid of a number had no scalar lowering (the printer raised)
    "sigmoid of a number": (spec_text("0.25 * t0 + (1 - 0.25) * Sum(p[c, i], i)", "t0 = sigmoid(2)\n"), 0, "compiled"),
    # a sum over classes and pixels of a constant (left by splitting 1 - p) became paddle.sum(1) / ctx.psum(1)
    "constant left in a double sum": (
        spec_text("0.25 * Mean(Sum(p[c, i], c), i) + (1 - 0.25) * Mean(Sum((1 - p[c, i]), c), i)"), 0, "compiled"),
    "constant left in a nested sum": (
        spec_text("0.25 * Sum(Sum(p[c, i], i), c) + (1 - 0.25) * Sum(Sum((1 - p[c, i]), i), c)"), 0, "compiled"),
    "log of a product with the target": (spec_text(
        "(2 * Sum(t1, i) + 2) / (Sum(t2, i) + Sum(g[c, i], i) + 2)",
        "t1 = p[c, i] + log(p[c, i])\nt2 = log(g[c, i] * Sum(p[c, i], i))\n")
        .replace("    expr=EXPR,\n", "    expr=EXPR,\n    mean_denominator=Indicator(Sum(g[c, i], i)),\n"), 0, "refused"),
    # Max of log(log(p)): the sigmoid rewrite made it log(-softplus(-x)), which SymPy's Max refused with a
    # ValueError (a traceback from the compiler): now a SpecError saying the value is real for no prediction
    "maximum of a log of a log": (spec_text("t2", "\nt0 = log(p[c, i])\nt1 = log(t0)\nt2 = Max(t1, 2)\n"), 0,
                                  "refused"),
    # Indicator of a root of a negative number: the guard's clamp made the root sqrt(EPS) and the indicator 1,
    # where the oracle read 0; an indicator of an undefined value is undefined (the oracle's nan: not compared)
    "indicator of a root of a negative number": (spec_text(
        "t3", "\nt0 = (2 * Sum(p[c, i], i) + 2) / (Sum(p[c, i], i) + Sum(g[c, i], i) + 2)\nt1 = (t0 - Sum(p[c, i], i))\n"
        "t2 = sqrt(t1)\nt3 = Indicator(t2)\n")
        .replace("    expr=EXPR,\n", "    expr=EXPR,\n    mean_denominator=Indicator(Sum(g[c, i], i)),\n"), 0, "compiled"),
    # a term infinite inside the class: the complement's factor (1 - g) in a denominator
    "inverse of the complement": (spec_text("Sum(p[c, i] / ((1 - g[c, i]) * Sum(p[c, i], i)), i)"), 0, "refused"),
    # p * Sum(0, i) reads p but is 0: it compiled to `loss = 0`
    "zero sum times p": (spec_text("p[c, i] * Sum(t0, i)", "t0 = (p[c, i] - p[c, i])\n"), 0, "refused"),
    "sums that cancel once split": (spec_text("Sum(p[c, i] * (1 - g[c, i]), i) + Sum(p[c, i] * g[c, i], i) - "
                                              "Sum(p[c, i], i)"), 0, "refused"),
    # the pixel count is a tensor where pixels are masked: math.log / math.sqrt of it failed at run time
    "function of the pixel count": (spec_text("t0 + t1", "t0 = log(1 + Sum(2, i))\nt1 = Sum(Min(p[c, i], oo), i)\n"),
                                    0, "compiled"),
    "root of a ratio of the pixel count": (spec_text(
        "0.25 * t3 + (1 - 0.25) * Sum(p[c, i], i)",
        "t0 = (2 * Sum(2, i) + 2) / (Sum(p[c, i], i) + Sum(g[c, i], i) + 2)\nt1 = sqrt(t0)\n"
        "t2 = (Sum(p[c, i], i) + t1)\nt3 = log(1 + t2)\n"), 0, "compiled"),
    "extrema and indicator of the pixel count": (spec_text(
        "Mean(p[c, i], i) * Max(Sum(3, i), 5) * Indicator(Sum(1, i) - 3) + Min(Sum(1, i), p[c, i]) + sigmoid(Sum(1, i))"),
        3, "compiled"),
    # ... and so is a CSE temporary holding an expression of it (math.sqrt(t0) failed)
    "shared expression of the pixel count": (spec_text(
        "0.25 * Indicator(Sum(g[c, i], i)) * t1 + (1 - 0.25) * (t2)**2",
        "t0 = sqrt((2 * Sum(Rational(1, 3), i) + 2) / (Sum(S.Half, i) + Sum(g[c, i], i) + 2))\n"
        "t1 = (ref(\"dice\", smooth=2) + t0)\n"
        "t2 = (2 * Sum(Rational(1, 3), i) + 2) / (Sum(Rational(1, 3), i) + Sum(g[c, i], i) + 2)\n"), 192, "compiled"),
    # a unit with no class present is left out of the weighted mean, but its entry p / g is infinite: the generated
    # gradient was NaN (0 times infinity) where the oracle's is 0; now refused
    "left-out unit not finite": (spec_text("0.25 * Sum(p[c, i], i) + (1 - 0.25) * Sum(t0, i)", "t0 = (p[c, i] / (g[c, i]))\n")
                                 .replace("    expr=EXPR,\n", "    expr=EXPR,\n    mean_denominator=Indicator(Sum(g[c, i], i)),\n"),
                                 1, "refused"),
    # a term undefined at an ignored pixel's logit (a real power of a negative logit) reached the sum as 0 * nan:
    # ignored pixels are now left out of every pixel sum by selection
    "term undefined at an ignored pixel": (spec_text(
        "(2 * Sum(t1, i) + alpha) / (Sum(t2, i) + Sum(g[c, i], i) + alpha)",
        "alpha = Param(\"alpha\", 1.0, domain=(0, None), doc=\"a drawn parameter\")\n"
        "beta = Param(\"beta\", 0.5, doc=\"a drawn parameter\")\ngamma = Param(\"gamma\", 0.5, doc=\"a drawn parameter\")\n"
        "t0 = (x[c, i])**alpha\nt1 = log(t0)\nt2 = log(p[c, i])\n", "alpha, beta, gamma")
        .replace("    expr=EXPR,\n", "    expr=EXPR,\n    mean_denominator=Indicator(Sum(g[c, i], i)),\n"), 220, "compiled"),
    # a per-image map held as one value per image, summed over the pixels alone, was counted once, not per pixel
    "per-image map summed alone": (spec_text(
        "(2 * Sum(t0, i) + 2) / (Sum(p[c, i], i) + Sum(g[c, i], i) + 2)", "t0 = log(ContourDistance(p[c, i], g[c, i]))\n")
        .replace("    expr=EXPR,\n", "    expr=EXPR,\n    mean_denominator=Indicator(Sum(g[c, i], i)),\n"), 0, "compiled"),
    "literal sum of a constant": (spec_text("Sum(p[c, i], i) + Sum(Sum(3, i), c) + softplus(-4) * Indicator(1)"), 0,
                                  "compiled"),
    # log(1 + p) rounded 1 + p: at p ~ 1e-4 the gradient of log(log(1 + p))^2 missed the oracle (1.6 x tolerance)
    "log of one plus a small probability": (spec_text("t2", "\nt0 = log(1 + p[c, i])\nt1 = log(t0)\nt2 = (t1)**2\n"), 0,
                                            "compiled"),
    # Max(ref("bce"), 2) made SymPy compare the fused kernel SigmoidBCE(1), whose arguments are numbers
    "maximum of a fused kernel": (spec_text(
        "0.25 * t2 + (1 - 0.25) * Sum(p[c, i], i)", "\nt0 = log(p[c, i])\nt1 = Max(ref(\"bce\"), 2)\nt2 = (t1 + p[c, i])\n"),
        0, "compiled"),
    # the guard clamped log(g), a log of the target alone: log(tiny) where the formula's -inf made the ratio 0;
    # refused since (a formula infinite at every background pixel: see the next)
    "log of the target alone": (spec_text(
        "t1", "\nt0 = log(g[c, i])\nt1 = (2 * Sum(p[c, i], i) + 2) / (Sum(t0, i) + Sum(g[c, i], i) + 2)\n")
        .replace("    expr=EXPR,\n", "    expr=EXPR,\n    mean_denominator=Indicator(Sum(g[c, i], i)),\n"), 0, "refused"),
    # log(g) times a sum of p in a denominator: the ratio is 0, its gradient 0 times -inf (NaN); with log(g * Sum(p))
    # the guard made the ratio -0.0011. A formula the target alone makes infinite at every background pixel is
    # refused at its line
    "log of the target times a sum": (spec_text(
        "(2 * Sum(t1, i) + 2) / (Sum(t2 * Sum(p[c, i], i), i) + Sum(g[c, i], i) + 2)",
        "t1 = p[c, i] + log(p[c, i])\nt2 = log(g[c, i])\n")
        .replace("    expr=EXPR,\n", "    expr=EXPR,\n    mean_denominator=Indicator(Sum(g[c, i], i)),\n"), 0, "refused"),
}


@pytest.mark.parametrize("name", sorted(REGRESSIONS))
def test_regression(name, tmp_path):
    text, seed, expected = REGRESSIONS[name]
    assert outcome(text, seed, tmp_path) == expected


def test_an_image_with_every_pixel_ignored_sends_no_nan_into_the_gradient(tmp_path):
    """An image whose pixels are all ignored contributes nothing (README): loss 0, gradient 0. The generated code
    still evaluates the formula there, on sums that are all 0, and masks the result; where the formula is singular
    at empty sums (Sum(p g) / Sum(p), no smoothing) the masked entry's gradient is 0 times infinity, NaN, unless
    the runtime keeps it from the ignored pixels' logits."""
    from spec_compile import Case
    from symloss.compiler.proof.oracle import Options

    path = tmp_path / "fuzzed.py"
    path.write_text(spec_text("Sum(p[c, i] * g[c, i], i) / Sum(p[c, i], i)"), encoding="utf-8")
    loss, registry = load_spec(path)
    rng = np.random.default_rng(0)
    label = rng.integers(0, 2, size=(2, 4))
    label[0] = 255
    case = Case(rng.normal(size=(2, 2, 4)), label, Options(), {})
    assert compare(loss, registry, function_of(loss, registry), case) == ""

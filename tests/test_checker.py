"""The checker proves what holds, refutes what does not (with a counterexample), and never
mistakes a symbolic "not zero" for a refutation."""
from pathlib import Path

import pytest
from sympy import S, Symbol

from registry_names import NAMES, REGISTRY
from spec_factory import line_of, write_formula
from symloss.compiler.proof.check import Checker, decide
from symloss.compiler.frontend.claims import INPUTS, TARGETS, Identity, Property
from symloss.compiler.dsl import Abs, Mean, Rational, Sum, c, g, i, log, p, ref
from symloss.compiler.frontend.errors import SpecError
from symloss.compiler.frontend.expand import resolve
from symloss.compiler.frontend.loader import load_registry


@pytest.mark.parametrize("name", NAMES)
def test_every_claim_of_every_spec_checks_out(name):
    outcomes = Checker(REGISTRY).check(REGISTRY[name])
    failed = [(o.claim, o.result, o.detail) for o in outcomes if not o.ok]
    assert not failed
    for o in outcomes:
        if o.expect == "refuted":
            assert o.result == "refuted" and "C=" in o.detail, o


def test_smoothing_finding_tversky_half_is_dice_of_twice_the_smoothing():
    s = Symbol("s", nonnegative=True)
    tversky = resolve(ref("tversky", alpha=S.Half, beta=S.Half, smooth=s), REGISTRY)
    assert decide(tversky - resolve(ref("dice", smooth=2 * s), REGISTRY))
    assert not decide(tversky - resolve(ref("dice", smooth=s), REGISTRY))
    at_zero = resolve(ref("tversky", alpha=S.Half, beta=S.Half, smooth=0), REGISTRY)
    assert decide(at_zero - resolve(ref("dice", smooth=0), REGISTRY))


def test_a_false_identity_fails_with_a_counterexample():
    loss = REGISTRY["tversky"]
    claim = Identity(ref("tversky", alpha=1, beta=1, smooth=1), ref("dice", smooth=1))
    outcome = Checker(REGISTRY).check_claim(loss, claim)
    assert not outcome.ok and outcome.result == "refuted"
    assert "C=" in outcome.detail and "lhs=" in outcome.detail and "rhs=" in outcome.detail


def test_an_erratum_that_proves_is_a_failure():
    s = Symbol("s", nonnegative=True)
    loss = REGISTRY["tversky"]
    claim = Identity(ref("tversky", alpha=1, beta=1, smooth=s), ref("jaccard", smooth=s), expect="refuted")
    outcome = Checker(REGISTRY).check_claim(loss, claim)
    assert outcome.result == "proved" and not outcome.ok


def test_a_false_property_is_refuted_with_its_input():
    loss = REGISTRY["dice"]
    outcome = Checker(REGISTRY).check_claim(loss, Property.bounded(0, S.Half))
    assert outcome.result == "refuted" and "p=[" in outcome.detail and "g=[" in outcome.detail


def test_symbolic_not_zero_is_not_a_refutation():
    # Sum(p) - Sum(p*g) - Sum(p*(1-g)) is zero, but only after linear expansion.
    diff = Sum(p[c, i], i) - Sum(p[c, i] * g[c, i], i) - Sum(p[c, i] * (1 - g[c, i]), i)
    assert decide(diff)
    loss = REGISTRY["dice"]
    identity = Identity(Sum(p[c, i], i), Sum(p[c, i] * g[c, i], i) + Sum(p[c, i] * (1 - g[c, i]), i))
    assert Checker(REGISTRY).check_claim(loss, identity).result == "proved"


# ---------------------------------------------------------------- crashes and misjudgements

def check_one(claim, loss="dice"):
    return Checker(REGISTRY).check_claim(REGISTRY[loss], claim)


def test_class_weights_left_free_are_sampled_and_shown_not_a_crash():
    plain = Mean(-Sum(g[c, i] * log(p[c, i]), c), i)
    outcome = check_one(Identity(plain, Mean(ref("cross_entropy", label_smoothing=0), i)), loss="cross_entropy")
    assert outcome.result == "refuted" and "weight=[" in outcome.detail
    bound = check_one(Identity(plain, Mean(ref("cross_entropy", weight=1, label_smoothing=0), i)),
                      loss="cross_entropy")
    assert bound.result == "proved"


def test_sides_with_different_free_indices_broadcast():
    # per class and pixel against per pixel (a class sum), and per class against a constant
    le = check_one(Property.le(ref("bce"), Sum(p[c, i] ** 2, c) + 10), loss="bce")
    assert le.result == "holds", le
    refuted = check_one(Property.le(Sum(p[c, i] ** 2, c) + 10, ref("bce")), loss="bce")
    assert refuted.result == "refuted" and "C=" in refuted.detail
    constant = check_one(Identity(ref("dice", smooth=1), 2))
    assert constant.result == "refuted" and "rhs=2" in constant.detail
    per_class = check_one(Identity(ref("dice", smooth=1) + Mean(Sum(p[c, i] ** 2, c), i) - ref("dice", smooth=1),
                                   Mean(Sum(p[c, i] ** 2, c), i)))
    assert per_class.ok


def test_nan_on_both_sides_is_no_counterexample():
    # Sum(g) - Sum(p g) >= 0, so the two agree wherever the class is present, and both are 0/0 where it is not.
    tp, positives = Sum(p[c, i] * g[c, i], i), Sum(g[c, i], i)
    outcome = check_one(Identity(Abs(tp - positives) / positives, (positives - tp) / positives))
    assert outcome.result == "holds" and "lhs=nan" not in outcome.detail and "undefined" in outcome.detail
    everywhere = check_one(Identity(log(-p[c, i]), log(-p[c, i]) + 1))
    assert everywhere.result == "unknown" and not everywhere.ok


def test_zero_at_perfect_is_judged_at_the_limit():
    slow = check_one(Property.zero_at_perfect(ref("dice", smooth=0) ** Rational(1, 20)))
    assert slow.result == "holds", slow
    offset = check_one(Property.zero_at_perfect(ref("dice", smooth=0) ** Rational(1, 20) + Rational(1, 100)))
    assert offset.result == "refuted" and "not vanishing" in offset.detail


def test_a_claim_says_which_inputs_it_is_about():
    # sum_c g = 1 only for one-hot targets with two classes or more; sum_c p = 1 only for softmax predictions
    one_hot = Mean(Sum(g[c, i], c), i)
    assert check_one(Property.bounded(1, 1, one_hot)).result == "refuted"
    assert check_one(Property.bounded(1, 1, one_hot, classes=(2, None))).result == "holds"
    normalised = Mean(Sum(p[c, i], c), i)
    assert check_one(Property.bounded(1, 1, normalised, classes=(2, None))).result == "refuted"
    assert check_one(Property.bounded(1, 1, normalised, classes=(2, None), inputs="softmax")).result == "holds"
    # BCE at p = g is 0 for hard targets only: a soft target leaves its entropy
    assert check_one(Property.zero_at_perfect(), loss="bce").result == "holds"
    soft = check_one(Property.zero_at_perfect(targets="soft"), loss="bce")
    assert soft.result == "refuted"
    exact = check_one(Identity(ref("generalized_dice", smooth=0), ref("dice", smooth=0), classes=1))
    assert exact.result == "proved"


@pytest.mark.parametrize("option", ["classes=(3, 2)", "classes='all'", "inputs='logits'", "targets='one_hot'"])
def test_a_bad_claim_option_is_a_spec_error_that_says_what_to_write(option):
    with pytest.raises(SpecError, match="write"):
        eval(f"Property.nonnegative({option})")


def test_checker_failures_are_spec_errors_at_the_claims_line(tmp_path):
    claims = "[\n        Property.nonnegative(),\n        Property.nonnegative(smoth=0),\n    ]"
    path = write_formula(tmp_path, "ref('dice', smooth=smooth)", 'smooth = Param("smooth", 1.0, domain=(0, None))\n',
                         params="[smooth]", claims=claims)
    registry = load_registry([path])
    with pytest.raises(SpecError) as info:
        Checker(registry).check(registry["my_loss"])
    err = info.value
    assert err.path == str(path) and err.line == line_of(path, "smoth=0") and "did you mean 'smooth'" in err.message


def test_readme_documents_every_claim_option():
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Writing a new loss"):text.index("## What the compiler does")]
    for option in ["classes=", "inputs=", "targets=", "expect=", "where="]:
        assert option in section, option
    for value in INPUTS + TARGETS:
        assert f'"{value}"' in section, value


def weighted_by_present_classes(tmp_path, expr):
    """A spec whose mean is over the classes present in each unit (mean_denominator=Indicator(Sum(g, i)))."""
    path = write_formula(tmp_path, expr, "present = Indicator(Sum(g[c, i], i))\n")
    path.write_text(path.read_text().replace("    claims=[],", "    mean_denominator=present,\n    claims=[],"))
    registry = load_registry([path])
    return path, registry["my_loss"], registry


def test_a_unit_left_out_of_the_weighted_mean_must_be_finite(tmp_path):
    # the mean over present classes of 1 / Dice without smoothing: infinite on an absent class, whose masked
    # gradient would be NaN in the generated code (0 times infinity)
    path, loss, registry = weighted_by_present_classes(tmp_path, "1 / (1 - ref('dice', smooth=0))")
    with pytest.raises(SpecError) as info:
        Checker(registry).check(loss)
    assert info.value.line == line_of(path, "mean_denominator=") and "smoothing" in str(info.value)
    _, smoothed, registry = weighted_by_present_classes(tmp_path, "1 / (1 - ref('dice', smooth=1))")
    assert Checker(registry).check(smoothed) == []
    # -log(Dice) is clamped like every log of a field, so its left-out entries are finite in the generated code
    _, clamped, registry = weighted_by_present_classes(tmp_path, "-log(1 - ref('dice', smooth=0))")
    assert Checker(registry).check(clamped) == []

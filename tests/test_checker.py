"""The checker proves what holds, refutes what does not (with a counterexample), and never
mistakes a symbolic "not zero" for a refutation."""
import pytest
from sympy import S, Symbol

from registry_names import NAMES, REGISTRY
from symloss.compiler.proof.check import Checker, decide
from symloss.compiler.frontend.claims import Identity, Property
from symloss.compiler.dsl import Sum, c, g, i, p, ref
from symloss.compiler.frontend.expand import resolve


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

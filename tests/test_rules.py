"""Each exact rewrite rule is an identity, proved; guards only act below EPS."""
import mpmath
import pytest
import sympy as sp

from symloss.compiler.dsl import c, i, x
from symloss.compiler.functions import sigmoid, softplus
from symloss.compiler.ir import Clamp
from symloss.compiler.rules import EPS, RULES, guard, rewrite


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.name)
def test_rule_is_an_identity(rule):
    y = sp.Symbol("y", real=True)
    lhs, rhs = rule.obligation(y)
    difference = (lhs - rhs).rewrite(sp.exp)
    if sp.simplify(difference) != 0:  # |y| in log_cosh: prove exp(lhs - rhs) = 1 on each half-line
        for half in (sp.Symbol("u", positive=True), sp.Symbol("v", negative=True)):
            assert sp.simplify(sp.exp(difference.xreplace({y: half}))) == 1


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.name)
def test_rule_agrees_numerically_at_moderate_inputs(rule):
    y = sp.Symbol("y", real=True)
    lhs, rhs = (sp.lambdify([y, sp.Symbol("y_1", real=True)], e.rewrite(sp.exp), "mpmath") for e in rule.obligation(y))
    with mpmath.workdps(40):
        for v in (-7.5, -0.3, 0.0, 0.8, 12.0):
            assert abs(lhs(v, 0.4) - rhs(v, 0.4)) < 1e-30


def test_stabilized_forms():
    z = x[c, i]
    assert rewrite(sp.log(sigmoid(z)))[0] == -softplus(-z)
    assert rewrite(sp.log(1 - sigmoid(z)))[0] == -softplus(z)
    assert rewrite(sp.log(1 / (1 + sp.exp(-z))))[0] == -softplus(-z)
    assert rewrite(sp.log(1 + sp.exp(z)))[0] == softplus(z)


def test_stable_form_is_finite_where_the_naive_one_overflows():
    z = sp.Symbol("z", real=True)
    naive = sp.lambdify(z, -sp.log(1 / (1 + sp.exp(-z))), "math")
    stable = sp.lambdify(z, rewrite(-sp.log(1 / (1 + sp.exp(-z))))[0].rewrite(sp.exp), "mpmath")
    with pytest.raises(OverflowError):
        naive(-800.0)
    assert abs(stable(-800.0) - 800) < 1e-9


def test_guard_clamps_only_logs_and_fractional_powers_of_fields():
    p = sp.IndexedBase("p")[c, i]
    guarded, fired = guard(sp.log(p) + (1 - p) ** sp.Rational(3, 4) + p**2 + sp.log(2))
    assert guarded == sp.log(Clamp(p, EPS)) + Clamp(1 - p, EPS) ** sp.Rational(3, 4) + p**2 + sp.log(2)
    assert fired == ["clamp_log", "clamp_power"]

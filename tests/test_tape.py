"""Reverse-mode derivatives from the tape equal SymPy's symbolic derivatives."""
import mpmath
import sympy as sp

from symloss.compiler.frontend.functions import sigmoid, softplus
from symloss.compiler.proof.tape import Tape


def test_tape_matches_sympy_diff():
    a, b, c = sp.symbols("a b c", real=True)
    exprs = [
        sp.log(1 + a**2) * sp.exp(-b) / (c + 3),
        sigmoid(a - b) ** sp.Rational(3, 4) + softplus(2 * c) - sp.Abs(a) * sp.cosh(b),
        (a * b + c) ** 2 / (1 + a * a) - sp.tanh(b) * sp.Max(a, c),
    ]
    tape = Tape(exprs, [a, b, c])
    point = {a: mpmath.mpf("0.7"), b: mpmath.mpf("-1.3"), c: mpmath.mpf("0.4")}
    seeds = [mpmath.mpf(2), mpmath.mpf(-1), mpmath.mpf("0.5")]
    with mpmath.workdps(40):
        vals = tape.forward([point[a], point[b], point[c]])
        grad = tape.backward(vals, seeds)
        for out, e in zip(tape.outputs, exprs):
            exact = sp.N(e.rewrite(sp.exp).subs(point), 40)
            assert abs(vals[out] - mpmath.mpf(str(exact))) < 1e-30
        total = sum(s * e.rewrite(sp.exp) for s, e in zip((2, -1, sp.Rational(1, 2)), exprs))
        for k, var in enumerate((a, b, c)):
            exact = sp.N(sp.diff(total, var).subs(point), 40)
            assert abs(grad[k] - mpmath.mpf(str(exact))) < 1e-30

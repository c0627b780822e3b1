"""Elementwise functions the literature writes and SymPy lacks, modelled on sympy.codegen.cfunctions.

Each has a derivative (so the oracle can differentiate through it) and a rewrite to exp/log
(so every stability rule can be proved by `simplify((lhs - rhs).rewrite(exp)) == 0`).
"""
from __future__ import annotations

import sympy as sp


class sigmoid(sp.Function):
    """1 / (1 + exp(-z))."""

    nargs = 1

    def fdiff(self, argindex=1):
        z = self.args[0]
        return sigmoid(z) * sigmoid(-z)

    @classmethod
    def eval(cls, z):
        if z.is_zero:
            return sp.S.Half

    def _eval_rewrite_as_exp(self, z, **kwargs):
        return 1 / (1 + sp.exp(-z))

    def _eval_is_positive(self):
        return self.args[0].is_extended_real

    def _eval_is_real(self):
        return self.args[0].is_real


class softplus(sp.Function):
    """log(1 + exp(z)), evaluated without overflow."""

    nargs = 1

    def fdiff(self, argindex=1):
        return sigmoid(self.args[0])

    @classmethod
    def eval(cls, z):
        if z.is_zero:
            return sp.log(2)

    def _eval_rewrite_as_exp(self, z, **kwargs):
        return sp.log(1 + sp.exp(z))

    def _eval_is_positive(self):
        return self.args[0].is_real

    def _eval_is_real(self):
        return self.args[0].is_real


class log_cosh(sp.Function):
    """log(cosh(z)), evaluated without overflow (large |z|) or cancellation (small |z|)."""

    nargs = 1

    def fdiff(self, argindex=1):
        return sp.tanh(self.args[0])

    @classmethod
    def eval(cls, z):
        if z.is_zero:
            return sp.S.Zero

    def _eval_rewrite_as_exp(self, z, **kwargs):
        return sp.log((sp.exp(z) + sp.exp(-z)) / 2)

    def _eval_is_nonnegative(self):
        return self.args[0].is_real

    def _eval_is_real(self):
        return self.args[0].is_real


class log1p(sp.Function):
    """log(1 + z) without rounding 1 + z, which loses z's digits where |z| is small (the compiler writes
    it for log(1 + z) with z >= 0; specs write log(1 + z))."""

    nargs = 1

    def fdiff(self, argindex=1):
        return 1 / (1 + self.args[0])

    @classmethod
    def eval(cls, z):
        if z.is_zero:
            return sp.S.Zero

    def _eval_rewrite_as_exp(self, z, **kwargs):
        return sp.log(1 + z)

    def _eval_is_nonnegative(self):
        return self.args[0].is_nonnegative

    def _eval_is_real(self):
        return True if self.args[0].is_nonnegative else None


class Indicator(sp.Function):
    """1 where z > 0, else 0: a selection (e.g. "this class is present"), with no gradient."""

    nargs = 1

    def fdiff(self, argindex=1):
        return sp.S.Zero

    def _eval_rewrite_as_Piecewise(self, z, **kwargs):
        return sp.Piecewise((1, z > 0), (0, True))


# The elementwise functions a formula may use: the compiler has a Paddle lowering and the oracle a
# derivative for each (backend/printer.py and proof/tape.py; tests/test_spec_errors.py keeps them in step).
ELEMENTWISE = (sp.log, sp.exp, sp.Abs, sp.cosh, sp.tanh, sp.Max, sp.Min, sigmoid, softplus, Indicator)


def literal(expr: sp.Expr) -> sp.Expr:
    """The expression with every symloss function spelled out in exp/log (the oracle's form)."""
    return expr.replace(lambda e: isinstance(e, (sigmoid, softplus, log_cosh, log1p)), lambda e: e.rewrite(sp.exp))

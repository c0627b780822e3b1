"""Shared sufficient statistics: split pixel sums linearly where that lowers the cost and loses nothing.

sum(2p + g) = 2 sum(p) + sum(g): a sum of non-negative terms becomes sums that other terms (and other
losses) share. A split is taken only if every part enters with a coefficient known to be non-negative:
sum(1 - g) = n - sum(g) or sum(p (1 - g)) = sum(p) - sum(p g) trade a sum of small terms, accurate in
float32, for the difference of two large ones, which cancels (n - sum(g) is 0 in float32 when one class
covers every pixel, and 1e-5 added to it is lost). Splitting is not always a gain either (a squared
error expands into six sums), so each sum is split only if the total cost of distinct reductions drops.
"""
from __future__ import annotations

import functools

import sympy as sp

from ..frontend.expand import collapse_constant_sums, split_sum
from ..frontend.language import n


def cost(expr: sp.Expr) -> int:
    """Distinct reductions, each weighted by one plus the elementwise operations of its body."""
    return sum(1 + sp.count_ops(s.function) for s in expr.atoms(sp.Sum))


def _polynomial(s: sp.Sum) -> bool:
    body = s.function
    return not body.atoms(sp.Sum) and body.is_polynomial(*body.atoms(sp.Indexed))


def cancellation_free(parts: sp.Expr) -> bool:
    """Whether a split sum adds its parts (sums and counts) with coefficients known to be >= 0."""
    for term in sp.Add.make_args(parts):
        coefficient, _ = term.as_independent(*(term.atoms(sp.Sum) | {n}), as_Add=False)
        if not coefficient.is_nonnegative:
            return False
    return True


@functools.lru_cache(maxsize=256)
def share_statistics(expr: sp.Expr) -> sp.Expr:
    """Greedily split the polynomial sums whose splitting lowers `cost` without a subtraction."""
    expr = collapse_constant_sums(expr)
    best = cost(expr)
    for s in sorted(expr.atoms(sp.Sum), key=sp.default_sort_key):
        if not _polynomial(s) or s not in expr.atoms(sp.Sum):
            continue
        parts = split_sum(s)
        if not cancellation_free(parts):
            continue
        candidate = expr.xreplace({s: parts})
        if cost(candidate) < best:
            expr, best = candidate, cost(candidate)
    return expr

"""Shared sufficient statistics: split pixel sums linearly where that lowers the cost.

sum(p*(1-g)) = sum(p) - sum(p*g): Tversky's three sums become sum(p*g), sum(p), sum(g), which
Dice, Jaccard and every compound loss share. Splitting is not always a gain (a squared error
expands into six sums), so each sum is split only if the total cost of distinct reductions drops.
"""
from __future__ import annotations

import functools

import sympy as sp

from ..frontend.expand import collapse_constant_sums, split_sum


def cost(expr: sp.Expr) -> int:
    """Distinct reductions, each weighted by one plus the elementwise operations of its body."""
    return sum(1 + sp.count_ops(s.function) for s in expr.atoms(sp.Sum))


def _polynomial(s: sp.Sum) -> bool:
    body = s.function
    return not body.atoms(sp.Sum) and body.is_polynomial(*body.atoms(sp.Indexed))


@functools.lru_cache(maxsize=256)
def share_statistics(expr: sp.Expr) -> sp.Expr:
    """Greedily split the polynomial sums whose splitting lowers `cost`."""
    expr = collapse_constant_sums(expr)
    best = cost(expr)
    for s in sorted(expr.atoms(sp.Sum), key=sp.default_sort_key):
        if not _polynomial(s) or s not in expr.atoms(sp.Sum):
            continue
        candidate = expr.xreplace({s: split_sum(s)})
        if cost(candidate) < best:
            expr, best = candidate, cost(candidate)
    return expr

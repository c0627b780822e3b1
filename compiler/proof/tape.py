"""Reverse-mode differentiation of SymPy expressions at mpmath precision.

The oracle needs values and exact gradients of a formula unrolled over every pixel; `sympy.diff`
of such a formula grows with its size squared. A tape records the expression DAG once, in
topological order; evaluating it forward and then backward gives the value and every partial
derivative by the chain rule, at 50 digits, in time linear in the expression.
"""
from __future__ import annotations

import mpmath
import sympy as sp

from ..frontend.functions import Indicator, literal

ZERO, ONE = mpmath.mpf(0), mpmath.mpf(1)


def indicator(a):
    """1 where a > 0, 0 where a <= 0, undefined where a is (an indicator of a root of a negative number
    is no number the formula defines, whatever a guard makes of it in the generated code)."""
    return ONE if a > 0 else mpmath.nan if mpmath.isnan(a) else ZERO


UNARY = {
    sp.exp: (mpmath.exp, lambda a, v: v),
    sp.log: (mpmath.log, lambda a, v: 1 / a),
    sp.cosh: (mpmath.cosh, lambda a, v: mpmath.sinh(a)),
    sp.sinh: (mpmath.sinh, lambda a, v: mpmath.cosh(a)),
    sp.tanh: (mpmath.tanh, lambda a, v: 1 - v * v),
    sp.Abs: (abs, lambda a, v: mpmath.sign(a)),
    sp.sign: (mpmath.sign, lambda a, v: mpmath.mpf(0)),
    Indicator: (indicator, lambda a, v: mpmath.mpf(0)),
}


class Tape:
    """The DAG of several expressions over `inputs`, ready for forward and reverse sweeps."""

    def __init__(self, outputs, inputs):
        self.inputs = list(inputs)
        self.index: dict = {}
        self.nodes: list = []  # (kind, payload, argument indices)
        for s in self.inputs:
            self._add(s, ("input", None, ()))
        self.outputs = [self._record(literal(sp.sympify(e))) for e in outputs]

    def _add(self, node, entry) -> int:
        self.index[node] = len(self.nodes)
        self.nodes.append(entry)
        return self.index[node]

    def _record(self, root) -> int:
        stack = [(root, False)]
        while stack:
            node, expanded = stack.pop()
            if node in self.index:
                continue
            if node.is_Number or node.is_NumberSymbol:
                self._add(node, ("const", mpmath.mpf(sp.Float(node, 110)), ()))
                continue
            if node.is_Symbol:
                raise ValueError(f"symbol {node} is not an input of the tape")
            if not expanded:
                stack.append((node, True))
                stack.extend((a, False) for a in node.args if a not in self.index)
                continue
            args = tuple(self.index[a] for a in node.args)
            if isinstance(node, sp.Add):
                self._add(node, ("add", None, args))
            elif isinstance(node, sp.Mul):
                self._add(node, ("mul", None, args))
            elif isinstance(node, sp.Pow):
                self._add(node, ("pow", None, args))
            elif isinstance(node, (sp.Max, sp.Min)):
                self._add(node, ("max" if isinstance(node, sp.Max) else "min", None, args))
            elif node.func in UNARY:
                self._add(node, ("unary", UNARY[node.func], args))
            else:
                raise ValueError(f"the oracle cannot differentiate {node.func.__name__}: add it to tape.UNARY")
        return self.index[root]

    def forward(self, values) -> list:
        """Node values for the given input values (same order as `inputs`); nan where a value diverges."""
        vals = list(values) + [None] * (len(self.nodes) - len(self.inputs))
        for k in range(len(self.inputs), len(self.nodes)):
            try:
                vals[k] = self._value(self.nodes[k], vals)
            except (ZeroDivisionError, ValueError):  # e.g. 0 ** -1
                vals[k] = mpmath.nan
            if isinstance(vals[k], mpmath.mpc):  # log(-1), (-1) ** 0.5: no real value
                vals[k] = mpmath.nan
        return vals

    @staticmethod
    def _value(node, vals):
        kind, payload, args = node
        a = [vals[j] for j in args]
        if kind == "const":
            return payload
        if kind == "add":
            return mpmath.fsum(a)
        if kind == "mul":
            return mpmath.fprod(a)
        if kind == "pow":
            return a[0] ** a[1]
        if kind == "max":
            return max(a)
        if kind == "min":
            return min(a)
        return payload[0](a[0])

    def backward(self, vals, seeds) -> list:
        """d(sum_k seeds[k] * outputs[k]) / d(inputs), from the forward values."""
        adj = [mpmath.mpf(0)] * len(self.nodes)
        for out, seed in zip(self.outputs, seeds):
            adj[out] += seed
        for k in range(len(self.nodes) - 1, len(self.inputs) - 1, -1):
            if not adj[k]:
                continue
            kind, payload, args = self.nodes[k]
            d = adj[k]
            if kind == "add":
                for j in args:
                    adj[j] += d
            elif kind == "mul":
                for pos, j in enumerate(args):
                    adj[j] += d * mpmath.fprod(vals[o] for q, o in enumerate(args) if q != pos)
            elif kind == "pow":
                base, exp = args
                b, e = vals[base], vals[exp]
                try:
                    adj[base] += d * e * b ** (e - 1)
                except ZeroDivisionError:
                    adj[base] += d * e * mpmath.inf
                if self.nodes[exp][0] != "const" and b > 0:
                    adj[exp] += d * mpmath.log(b) * vals[k]
            elif kind in ("max", "min"):
                pick = vals[k]
                winner = next(j for j in args if vals[j] == pick)
                adj[winner] += d
            elif kind == "unary":
                try:
                    adj[args[0]] += d * payload[1](vals[args[0]], vals[k])
                except ZeroDivisionError:  # e.g. log at 0: the derivative is infinite
                    adj[args[0]] += d * mpmath.inf
        # a derivative through a value with no real value (sqrt of a negative) has none either
        return [mpmath.nan if isinstance(a, mpmath.mpc) else a for a in adj[: len(self.inputs)]]

"""Numbers that record their arithmetic, for the gradients of primitives written in plain Python.

A neighbourhood primitive's oracle evaluation (compiler/frontend/morphology.py) is ordinary arithmetic with
comparisons; run on `Node`s it records a graph whose reverse sweep gives the exact gradient at the working
precision. min/max return the winning Node itself, so the gradient follows the winner (the first one on a
tie, as Paddle's pooling does); relu gives 0 at 0.
"""
from __future__ import annotations

import mpmath


class Node:
    """A value (mpf) and its parents with the local partial derivatives."""

    __slots__ = ("value", "parents", "adjoint")

    def __init__(self, value, parents=()):
        self.value = mpmath.mpf(value)
        self.parents = parents
        self.adjoint = mpmath.mpf(0)

    # arithmetic ------------------------------------------------------------------------------
    def __add__(self, other):
        if isinstance(other, Node):
            return Node(self.value + other.value, ((self, 1), (other, 1)))
        return Node(self.value + other, ((self, 1),))

    __radd__ = __add__

    def __sub__(self, other):
        if isinstance(other, Node):
            return Node(self.value - other.value, ((self, 1), (other, -1)))
        return Node(self.value - other, ((self, 1),))

    def __rsub__(self, other):
        return Node(other - self.value, ((self, -1),))

    def __neg__(self):
        return Node(-self.value, ((self, -1),))

    def __mul__(self, other):
        if isinstance(other, Node):
            return Node(self.value * other.value, ((self, other.value), (other, self.value)))
        return Node(self.value * other, ((self, other),))

    __rmul__ = __mul__

    def __truediv__(self, other):
        if isinstance(other, Node):
            q = self.value / other.value
            return Node(q, ((self, 1 / other.value), (other, -q / other.value)))
        return Node(self.value / other, ((self, 1 / mpmath.mpf(other)),))

    def __rtruediv__(self, other):
        q = other / self.value
        return Node(q, ((self, -q / self.value),))

    # comparisons (by value: the winner of min/max is a Node, and carries the gradient) ---------
    def _v(self, other):
        return other.value if isinstance(other, Node) else other

    def __lt__(self, other):
        return self.value < self._v(other)

    def __le__(self, other):
        return self.value <= self._v(other)

    def __gt__(self, other):
        return self.value > self._v(other)

    def __ge__(self, other):
        return self.value >= self._v(other)

    def __eq__(self, other):
        return self.value == self._v(other)

    def __ne__(self, other):
        return self.value != self._v(other)

    __hash__ = object.__hash__


def value(v):
    return v.value if isinstance(v, Node) else mpmath.mpf(v)


def backward(outputs, cotangents) -> None:
    """Accumulate d(sum cotangent * output) into every Node's adjoint (reverse topological order)."""
    order, seen = [], set()
    for root in outputs:
        if not isinstance(root, Node) or id(root) in seen:
            continue
        stack = [(root, False)]
        while stack:
            node, done = stack.pop()
            if done:
                order.append(node)
                continue
            if id(node) in seen:
                continue
            seen.add(id(node))
            stack.append((node, True))
            stack.extend((parent, False) for parent, _ in node.parents if id(parent) not in seen)
    for root, cot in zip(outputs, cotangents):
        if isinstance(root, Node):
            root.adjoint += cot
    for node in reversed(order):
        if node.adjoint:
            for parent, partial in node.parents:
                parent.adjoint += node.adjoint * partial

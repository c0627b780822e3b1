"""What a spec claims about itself: identities between formulas, and properties of one formula.

A claim with `expect="refuted"` records a form from the literature that is wrong (an erratum):
the checker must find a counterexample, and proving it instead is a failure.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

from .errors import SpecError

EXPECTATIONS = ("holds", "refuted")


def _expectation(expect: str) -> str:
    if expect not in EXPECTATIONS:
        raise SpecError(f"expect={expect!r}: write expect=\"holds\" (the default) or expect=\"refuted\" for an erratum")
    return expect


def _text(e) -> str:
    return sp.sstr(e) if e is not None else "the loss"


@dataclass(eq=False)
class Identity:
    """lhs == rhs for every input and every value of the symbols left free.

    `classes` fixes the number of classes (e.g. 1 for "Generalized Dice with one class is Dice");
    `inputs="hard"` restricts the claim to hard predictions (p in {0, 1}, logits +-1), where it is
    checked numerically only.
    """

    lhs: sp.Expr
    rhs: sp.Expr
    classes: int | None = None
    expect: str = "holds"
    note: str = ""
    inputs: str = "soft"

    def __post_init__(self):
        self.lhs, self.rhs = sp.sympify(self.lhs), sp.sympify(self.rhs)
        self.expect = _expectation(self.expect)
        if self.inputs not in ("soft", "hard"):
            raise SpecError(f"inputs={self.inputs!r}: write inputs=\"soft\" (the default) or inputs=\"hard\"")

    @property
    def text(self) -> str:
        size = f"  [C = {self.classes}]" if self.classes else ""
        hard = "  [hard predictions]" if self.inputs == "hard" else ""
        return f"{_text(self.lhs)} = {_text(self.rhs)}{size}{hard}"


@dataclass(eq=False)
class Property:
    """A numerical property of one formula (the loss itself unless `expr` is given).

    kinds: nonnegative, zero_at_perfect, bounded, minimal_at_perfect, le (expr <= other),
    permutation_invariant (pixels may be shuffled).
    """

    kind: str
    expr: sp.Expr | None = None
    other: sp.Expr | None = None
    bindings: dict = field(default_factory=dict)
    low: sp.Expr | None = None
    high: sp.Expr | None = None
    expect: str = "holds"
    note: str = ""

    def __post_init__(self):
        self.expect = _expectation(self.expect)
        if self.expr is not None:
            self.expr = sp.sympify(self.expr)

    @classmethod
    def nonnegative(cls, expr=None, expect="holds", note="", **bindings):
        return cls("nonnegative", expr, bindings=bindings, expect=expect, note=note)

    @classmethod
    def zero_at_perfect(cls, expr=None, expect="holds", note="", **bindings):
        return cls("zero_at_perfect", expr, bindings=bindings, expect=expect, note=note)

    @classmethod
    def minimal_at_perfect(cls, expr=None, expect="holds", note="", **bindings):
        return cls("minimal_at_perfect", expr, bindings=bindings, expect=expect, note=note)

    @classmethod
    def bounded(cls, low, high, expr=None, expect="holds", note="", **bindings):
        return cls("bounded", expr, bindings=bindings, low=sp.sympify(low), high=sp.sympify(high),
                   expect=expect, note=note)

    @classmethod
    def le(cls, expr, other, expect="holds", note="", **bindings):
        return cls("le", sp.sympify(expr), other=sp.sympify(other), bindings=bindings, expect=expect, note=note)

    @classmethod
    def permutation_invariant(cls, expr=None, expect="holds", note="", **bindings):
        return cls("permutation_invariant", expr, bindings=bindings, expect=expect, note=note)

    @property
    def text(self) -> str:
        subject = _text(self.expr)
        where = ", ".join(f"{k}={v}" for k, v in self.bindings.items())
        where = f" at {where}" if where else ""
        return {
            "nonnegative": f"{subject} >= 0{where}",
            "zero_at_perfect": f"{subject} = 0 at a perfect prediction (every class present){where}",
            "minimal_at_perfect": f"{subject} is smallest at a perfect prediction{where}",
            "bounded": f"{self.low} <= {subject} <= {self.high}{where}",
            "le": f"{subject} <= {_text(self.other)}{where}",
            "permutation_invariant": f"{subject} is invariant to permuting pixels{where}",
        }[self.kind]

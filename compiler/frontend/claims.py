"""What a spec claims about itself: identities between formulas, and properties of one formula.

A claim with `expect="refuted"` records a form from the literature that is wrong (an erratum):
the checker must find a counterexample, and proving it instead is a failure.

Every claim may say which inputs it is about (README, "Writing a new loss"):
- `classes`: the number of classes C, exactly (`classes=1`) or a range (`classes=(2, None)`: C >= 2);
- `inputs`: the predictions, "soft" (default: each class's p = sigmoid of a random logit),
  "softmax" (p sums to 1 over the classes) or "hard" (p in {0, 1}, logits +-1; checked numerically only);
- `targets`: "one-hot" (default: one class per pixel, foreground or background when C = 1), or "soft"
  (any g in [0, 1], as float targets may be).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

from .errors import SpecError
from .source import caller

EXPECTATIONS = ("holds", "refuted")
INPUTS = ("soft", "softmax", "hard")
TARGETS = ("one-hot", "soft")
OPTIONS = ("classes", "inputs", "targets")


def _expectation(expect: str) -> str:
    if expect not in EXPECTATIONS:
        raise SpecError(f"expect={expect!r}: write expect=\"holds\" (the default) or expect=\"refuted\" for an erratum")
    return expect


def _text(e) -> str:
    return sp.sstr(e) if e is not None else "the loss"


def class_range(classes) -> tuple[int, int | None] | None:
    """`classes=` as (low, high), high None for unbounded; None when the claim does not restrict C."""
    if classes is None:
        return None
    if isinstance(classes, bool):
        classes = "?"
    if isinstance(classes, int):
        bounds = (classes, classes)
    elif isinstance(classes, tuple) and len(classes) == 2 and all(b is None or isinstance(b, int) for b in classes):
        bounds = (classes[0] or 1, classes[1])
    else:
        bounds = None
    if bounds is None or bounds[0] < 1 or (bounds[1] is not None and bounds[1] < bounds[0]):
        raise SpecError(f"classes={classes!r}: write a number of classes (classes=1) or a range with None for "
                        f"unbounded (classes=(2, None) means C >= 2); a parameter named `classes` is bound "
                        f"with where={{'classes': ...}}")
    return bounds


def _check_options(claim) -> None:
    claim.expect = _expectation(claim.expect)
    class_range(claim.classes)
    if claim.inputs not in INPUTS:
        raise SpecError(f"inputs={claim.inputs!r}: write one of {', '.join(map(repr, INPUTS))}")
    if claim.targets not in TARGETS:
        raise SpecError(f"targets={claim.targets!r}: write one of {', '.join(map(repr, TARGETS))}")


def _options_text(claim) -> str:
    bounds = class_range(claim.classes)
    parts = []
    if bounds is not None:
        lo, hi = bounds
        parts.append(f"C = {lo}" if lo == hi else f"C >= {lo}" if hi is None else f"{lo} <= C <= {hi}")
    if claim.inputs == "hard":
        parts.append("hard predictions")
    elif claim.inputs == "softmax":
        parts.append("softmax predictions")
    if claim.targets == "soft":
        parts.append("soft targets")
    return "".join(f"  [{p}]" for p in parts)


@dataclass(eq=False)
class Identity:
    """lhs == rhs for every input and every value of the symbols left free.

    `classes` fixes the number of classes (e.g. 1 for "Generalized Dice with one class is Dice") or
    bounds it; `inputs="hard"` restricts the claim to hard predictions (p in {0, 1}, logits +-1), where
    it is checked numerically only. See the module docstring for every option.
    """

    lhs: sp.Expr
    rhs: sp.Expr
    classes: int | tuple | None = None
    expect: str = "holds"
    note: str = ""
    inputs: str = "soft"
    targets: str = "one-hot"
    path: str | None = field(default=None, repr=False)
    line: int | None = field(default=None, repr=False)

    def __post_init__(self):
        self.path, self.line = caller()
        self.lhs, self.rhs = sp.sympify(self.lhs), sp.sympify(self.rhs)
        _check_options(self)

    @property
    def text(self) -> str:
        return f"{_text(self.lhs)} = {_text(self.rhs)}{_options_text(self)}"


@dataclass(eq=False)
class Property:
    """A numerical property of one formula (the loss itself unless `expr` is given).

    kinds: nonnegative, zero_at_perfect, bounded, minimal_at_perfect, le (expr <= other),
    permutation_invariant (pixels may be shuffled). Keyword arguments bind parameters; `classes`,
    `inputs` and `targets` say which inputs the claim is about (module docstring), and `where=`
    binds a parameter whose name is one of those.
    """

    kind: str
    expr: sp.Expr | None = None
    other: sp.Expr | None = None
    bindings: dict = field(default_factory=dict)
    low: sp.Expr | None = None
    high: sp.Expr | None = None
    expect: str = "holds"
    note: str = ""
    classes: int | tuple | None = None
    inputs: str = "soft"
    targets: str = "one-hot"
    path: str | None = field(default=None, repr=False)
    line: int | None = field(default=None, repr=False)

    def __post_init__(self):
        self.path, self.line = caller()
        _check_options(self)
        if self.expr is not None:
            self.expr = sp.sympify(self.expr)

    @classmethod
    def _make(cls, kind, expr=None, *, expect="holds", note="", classes=None, inputs="soft", targets="one-hot",
              where=None, bindings=None, **extra):
        return cls(kind, expr, bindings=dict(bindings or {}) | dict(where or {}), expect=expect, note=note,
                   classes=classes, inputs=inputs, targets=targets, **extra)

    @classmethod
    def nonnegative(cls, expr=None, expect="holds", note="", **options):
        return cls._make("nonnegative", expr, expect=expect, note=note, **_split(options))

    @classmethod
    def zero_at_perfect(cls, expr=None, expect="holds", note="", **options):
        return cls._make("zero_at_perfect", expr, expect=expect, note=note, **_split(options))

    @classmethod
    def minimal_at_perfect(cls, expr=None, expect="holds", note="", **options):
        return cls._make("minimal_at_perfect", expr, expect=expect, note=note, **_split(options))

    @classmethod
    def bounded(cls, low, high, expr=None, expect="holds", note="", **options):
        return cls._make("bounded", expr, expect=expect, note=note, low=sp.sympify(low), high=sp.sympify(high),
                         **_split(options))

    @classmethod
    def le(cls, expr, other, expect="holds", note="", **options):
        return cls._make("le", sp.sympify(expr), other=sp.sympify(other), expect=expect, note=note,
                         **_split(options))

    @classmethod
    def permutation_invariant(cls, expr=None, expect="holds", note="", **options):
        return cls._make("permutation_invariant", expr, expect=expect, note=note, **_split(options))

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
        }[self.kind] + _options_text(self)


def _split(options: dict) -> dict:
    """Keyword arguments of a Property constructor: the input options, `where=`, and parameter bindings."""
    chosen = {k: options.pop(k) for k in (*OPTIONS, "where") if k in options}
    return chosen | {"bindings": options}

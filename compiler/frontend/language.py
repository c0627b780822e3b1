"""The vocabulary of a spec: fields, indices, sums, parameters, references, the Loss itself.

A spec module builds one `LOSS = Loss(...)` from these names (gathered for it in compiler/dsl.py). Everything is plain SymPy, so a
formula is typed once, as the paper writes it, and every later stage (checker, oracle, emitter)
reads the same object.
"""
from __future__ import annotations

import keyword
import re
import sys
from dataclasses import dataclass, field

import sympy as sp

from .errors import SpecError

# Indices: `c` runs over classes, `i` over the pixels of one unit (an image, or the whole batch).
c = sp.Symbol("c", integer=True, nonnegative=True)
i = sp.Symbol("i", integer=True, nonnegative=True)
# Sizes: `C` classes, `n` valid pixels in the unit (ignored pixels are not counted).
C = sp.Symbol("C", integer=True, positive=True)
n = sp.Symbol("n", integer=True, positive=True)

# Fields, indexed [c, i]: predicted probability, target, raw logit.
p = sp.IndexedBase("p", positive=True)
g = sp.IndexedBase("g", nonnegative=True)
x = sp.IndexedBase("x", real=True)

INDICES = (c, i)
SIZES = {c: C, i: n}
FIELDS = {"p": p, "g": g, "x": x}
FAMILIES = ("distribution", "region", "boundary", "compound")


def Sum(expr, index):
    """Sum over every class (`c`) or every valid pixel (`i`)."""
    if index not in SIZES:
        raise SpecError(f"Sum over {index!r}: sum over `c` (classes) or `i` (pixels)")
    return sp.Sum(expr, (index, 0, SIZES[index] - 1))


def Mean(expr, index):
    """Sum over `index` divided by the number of its values (valid pixels, or classes)."""
    return Sum(expr, index) / SIZES[index]


def _interval(domain) -> sp.Interval:
    if isinstance(domain, sp.Set):
        return domain
    lo, hi = domain
    return sp.Interval(-sp.oo if lo is None else sp.sympify(lo), sp.oo if hi is None else sp.sympify(hi))


class Param(sp.Symbol):
    """A loss parameter: a real SymPy symbol that carries its default, domain and role.

    `domain` is a SymPy set or a closed `(low, high)` pair where None means unbounded.
    """

    kind = "scalar"

    def __new__(cls, name, default, domain=(None, None), doc=""):
        obj = sp.Symbol.__xnew__(cls, name, real=True)  # uncached: each Param keeps its own metadata
        if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
            raise SpecError(f"Param name {name!r} is not a Python identifier: use snake_case, e.g. 'smooth'")
        obj.default = sp.nsimplify(default) if isinstance(default, float) else sp.sympify(default)
        obj.domain = _interval(domain)
        obj.doc = doc
        if obj.default not in obj.domain:
            raise SpecError(
                f"Param {name!r}: default {default} lies outside its domain {obj.domain}; "
                f"change the default or widen domain="
            )
        return obj

    def __getnewargs_ex__(self):
        return (self.name, self.default, self.domain, self.doc), {}


class ClassWeights:
    """A parameter holding one weight per class (default None: every class weighs 1).

    Index it by class in a formula: `weight[c]`. The generated code takes a list or tensor of C
    non-negative numbers (all classes, background included).
    """

    kind = "class_weights"

    def __init__(self, name, doc=""):
        if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
            raise SpecError(f"ClassWeights name {name!r} is not a Python identifier")
        self.name, self.doc, self.default = name, doc, None
        self.base = sp.IndexedBase(name, positive=True)

    def __getitem__(self, index):
        return self.base[index]


class Pick(sp.Function):
    """The branch of a formula that a Choice parameter selects: Pick(name, ((option, expr), ...))."""

    nargs = 2

    @property
    def choice(self) -> str:
        return self.args[0].name

    @property
    def branches(self) -> dict:
        return {option.name: e for option, e in self.args[1]}


class Choice:
    """A parameter that selects between named variants of a formula, e.g. classes="present" | "all"."""

    kind = "choice"

    def __init__(self, name, default, options, doc=""):
        if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
            raise SpecError(f"Choice name {name!r} is not a Python identifier")
        if default not in options:
            raise SpecError(f"Choice {name!r}: default {default!r} is not one of {tuple(options)}")
        self.name, self.default, self.options, self.doc = name, default, tuple(options), doc

    def pick(self, **branches) -> Pick:
        """The formula for each option, by keyword: `classes.pick(present=..., all=...)`."""
        if set(branches) != set(self.options):
            raise SpecError(f"{self.name}.pick(...) must give exactly the options {self.options}")
        pairs = [sp.Tuple(sp.Symbol(k), sp.sympify(branches[k])) for k in self.options]
        return Pick(sp.Symbol(self.name), sp.Tuple(*pairs))


def choose(expr, choices: dict):
    """`expr` with every Pick replaced by the branch that `choices` (name -> option) selects."""
    if expr is None or not expr.has(Pick):
        return expr
    return expr.replace(lambda e: isinstance(e, Pick), lambda e: choose(e.branches[choices[e.choice]], choices))


class Ref(sp.Function):
    """Another spec's formula with some of its parameters bound: `ref("dice", smooth=2 * s)`."""

    nargs = 2

    @property
    def target(self) -> str:
        return self.args[0].name

    @property
    def bindings(self) -> dict[str, sp.Expr]:
        return {k.name: v for k, v in self.args[1]}

    def _latex(self, printer, exp=None):  # noqa: F811  (SymPy passes `exp` by that name)
        args = ", ".join(f"{k}={printer._print(v)}" for k, v in self.bindings.items())
        text = rf"\operatorname{{{self.target}}}({args})".replace("_", r"\_")
        return text if exp is None else f"{text}^{{{exp}}}"

    def _sympystr(self, printer):
        args = ", ".join(f"{k}={printer._print(v)}" for k, v in self.bindings.items())
        return f"{self.target}({args})"


def ref(name: str, **bindings) -> Ref:
    """Refer to the spec registered as `name`, with parameters bound by keyword."""
    pairs = [sp.Tuple(sp.Symbol(k), sp.Symbol(v) if isinstance(v, str) else sp.sympify(v))
             for k, v in sorted(bindings.items())]  # a string binds a Choice
    return Ref(sp.Symbol(name), sp.Tuple(*pairs))


NAME_RE = re.compile(r"[a-z][a-z0-9_]*")


@dataclass(eq=False)
class Loss:
    """One loss: its formula (free `c` = per class, free `i` = per pixel), metadata and claims."""

    name: str = None
    title: str = None
    family: str = None
    paper: str = None
    summary: str = None
    params: list = field(default_factory=list)
    expr: sp.Expr = None
    claims: list = field(default_factory=list)
    notes: str = ""
    # reduction="mean" divides the sum of the valid entries by the sum of this over them (default: their
    # count); same free indices as expr; a constant of the gradient. For a loss per pixel the sums pool the
    # batch; for a loss per unit (no free i) each unit's mean comes first, then the mean over the units whose
    # denominator is positive (e.g. Indicator(Sum(g[c, i], i)): per image, the mean over present classes).
    mean_denominator: sp.Expr = None
    class_name: str = None
    path: str = field(default=None, repr=False)
    line: int = field(default=None, repr=False)

    def __post_init__(self):
        caller = sys._getframe(2)  # the spec module's frame (1 is the dataclass __init__)
        self.path, self.line = caller.f_code.co_filename, caller.f_lineno
        for key in ("name", "title", "family", "paper", "summary", "expr"):
            if getattr(self, key) is None:
                raise SpecError(f"Loss is missing {key}=: {_HINTS[key]}")
        if not NAME_RE.fullmatch(self.name) or keyword.iskeyword(self.name):
            raise SpecError(f"name {self.name!r} is not a snake_case Python identifier: write e.g. name=\"focal_tversky\"")
        if self.class_name is not None and not (self.class_name.isidentifier() and self.class_name[0].isupper()):
            raise SpecError(f"class_name {self.class_name!r} is not a CamelCase Python identifier, e.g. \"BCELoss\"")
        if self.family not in FAMILIES:
            raise SpecError(f"family {self.family!r} is not one of {', '.join(FAMILIES)}")
        self.expr = sp.sympify(self.expr)
        if self.mean_denominator is not None:
            self.mean_denominator = sp.sympify(self.mean_denominator)
        for prm in self.params:
            if not isinstance(prm, (Param, ClassWeights, Choice)):
                raise SpecError(f"params lists {prm!r}, which is not a Param: write Param(\"name\", default, ...)")
        names = [prm.name for prm in self.params]
        if len(set(names)) != len(names):
            raise SpecError(f"params repeats a name: {names}")
        clash = [nm for nm in names if nm in RESERVED or re.fullmatch(r"t\d+", nm)]
        if clash:
            raise SpecError(f"Param name {clash[0]!r} is reserved for the generated code: choose another name")

    @property
    def param_map(self) -> dict:
        return {prm.name: prm for prm in self.params}

    @property
    def scalars(self) -> list:
        return [prm for prm in self.params if isinstance(prm, Param)]

    @property
    def choices(self) -> list:
        return [prm for prm in self.params if isinstance(prm, Choice)]

    @property
    def weights(self) -> list:
        return [prm for prm in self.params if isinstance(prm, ClassWeights)]


# Keywords every generated loss takes besides its own parameters (see the README's API section).
COMMON_KEYWORDS = {
    "activation": '"auto"',
    "ignore_index": "255",
    "include_background": "True",
    "batch": "False",
    "sync": "False",
    "reduction": '"mean"',
}

# Names the generated code uses for itself; a parameter may not take one.
RESERVED = set(COMMON_KEYWORDS) | {
    "logit", "label", "x", "p", "g", "m", "dist", "logp", "log1mp", "ctx", "loss", "mean_denominator", "paddle", "F",
    "math", "types", "c", "i", "n", "C",
}

_HINTS = {
    "name": 'the registry key, snake_case, e.g. name="tversky"',
    "title": 'a human title, e.g. title="Tversky"',
    "family": f"one of {', '.join(FAMILIES)}",
    "paper": 'the arXiv id or DOI, e.g. paper="arXiv:1706.05721"',
    "summary": "one sentence saying what the loss does",
    "expr": "the formula, e.g. expr=1 - (2 * tp + smooth) / (sp + sg + smooth)",
}

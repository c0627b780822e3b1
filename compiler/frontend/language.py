"""The vocabulary of a spec: fields, indices, sums, parameters, references, the Loss itself.

A spec module builds one `LOSS = Loss(...)` from these names (gathered for it in compiler/dsl.py). Everything is plain SymPy, so a
formula is typed once, as the paper writes it, and every later stage (checker, oracle, emitter)
reads the same object.
"""
from __future__ import annotations

import keyword
import re
from dataclasses import dataclass, field

import sympy as sp

from .errors import SpecError
from .source import caller, note

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

# The same fields over every class, background included, whatever include_background says: what a
# term inside AllClasses(...) reads, and what a class selection such as p[0, i] names. `C_all` counts them.
C_all = sp.Symbol("C_all", integer=True, positive=True)
ALL_FIELDS = {name: sp.IndexedBase(f"{name}_all", **base.assumptions0) for name, base in FIELDS.items()}

# Class sets, indexed [c]: 1 for the classes in the set, else 0. The background is class 0; every other
# class is foreground (Yeung et al.'s "rare" classes). With include_background=False class 0 is out of
# scope, so background[c] is 0 for every class left.
background = sp.IndexedBase("background", nonnegative=True)
foreground = sp.IndexedBase("foreground", nonnegative=True)
CLASS_SETS = {"background": background, "foreground": foreground}
FAMILIES = ("distribution", "region", "boundary", "compound")


def Sum(expr, index):
    """Sum over every class (`c`) or every valid pixel (`i`)."""
    if index not in SIZES:
        raise SpecError(f"Sum over {index!r}: sum over `c` (classes) or `i` (pixels)")
    return note(sp.Sum(expr, (index, 0, SIZES[index] - 1)))


def Mean(expr, index):
    """Sum over `index` divided by the number of its values (valid pixels, or classes)."""
    return note(Sum(expr, index) / SIZES[index])


class AllClasses(sp.Function):
    """A term whose classes are every class, background included, whatever include_background says.

    `include_background=False` leaves class 0 out of every class-wise term except these: MONAI's DiceCE
    is `AllClasses(Mean(ref("cross_entropy"), i)) + Mean(ref("dice"), c)`, with the background always in
    its cross-entropy. The term must sum over `c` (a free `c` would give it a class axis of its own).
    """

    nargs = 1


def scope_classes(expr: sp.Expr) -> sp.Expr:
    """The formula with each AllClasses(term) and each class selection (p[0, i]) reading the fields
    over every class: p -> p_all, C -> C_all, w[c] -> w_all[c] inside the term."""
    if expr is None or not (expr.has(AllClasses) or any(_selects_class(e) for e in expr.atoms(sp.Indexed))):
        return expr

    def every_class(e: sp.Expr) -> sp.Expr:
        body = e.args[0]
        if c in body.free_symbols:
            raise SpecError(f"AllClasses({body}) leaves the class index c free: sum over it inside, "
                            "e.g. AllClasses(Sum(-g[c, i] * log(p[c, i]), c))")
        if any(getattr(type(f), "runtime", None) for f in body.atoms(sp.Function)):
            raise SpecError(f"AllClasses({body}) holds a primitive: write primitives outside AllClasses terms")
        bases = {ind.base for ind in body.atoms(sp.Indexed)}
        mapping = {base: ALL_FIELDS[base.name] if base.name in FIELDS else sp.IndexedBase(
            f"{base.name}_all", **base.assumptions0) for base in bases if not base.name.endswith("_all")}
        return body.xreplace({**mapping, C: C_all})

    expr = expr.replace(lambda e: isinstance(e, AllClasses), every_class)
    return expr.replace(_selects_class, lambda e: ALL_FIELDS[e.base.name][e.indices])


def _selects_class(e) -> bool:
    """p[k, i] with a fixed class k: a field of one named class (k counts from class 0, the background)."""
    return isinstance(e, sp.Indexed) and e.base.name in FIELDS and len(e.indices) == 2 and e.indices[0].is_Integer


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
        obj.path, obj.line = caller()
        if obj.default not in obj.domain:
            raise SpecError(
                f"Param {name!r}: default {default} lies outside its domain {obj.domain}; "
                f"change the default or widen domain="
            )
        return obj

    def __getnewargs_ex__(self):
        return (self.name, self.default, self.domain, self.doc), {}

    def _hashable_content(self):
        # Two specs' parameters of one name but different defaults or domains are different symbols: were
        # they equal, SymPy's cache could hand one spec's formula the other's parameter (and its domain).
        return super()._hashable_content() + (getattr(self, "default", None), getattr(self, "domain", None))


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
    if not isinstance(name, str) or not name.isidentifier():
        raise SpecError(f"ref({name!r}): name a registered loss by its snake_case name, e.g. ref(\"dice\")")
    pairs = [sp.Tuple(sp.Symbol(k), sp.Symbol(v) if isinstance(v, str) else sp.sympify(v))
             for k, v in sorted(bindings.items())]  # a string binds a Choice
    return note(Ref(sp.Symbol(name), sp.Tuple(*pairs)))


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
    # A loss written for two classes (MONAI's binary asymmetric losses): one channel (C = 1) is read as the
    # two classes [1 - p, p], with targets [1 - g, g].
    binary_as_two_classes: bool = False
    # Common keywords whose default this loss changes, e.g. {"include_background": False} (nnU-Net's do_bg).
    keyword_defaults: dict = field(default_factory=dict)
    class_name: str = None
    path: str = field(default=None, repr=False)
    line: int = field(default=None, repr=False)

    def __post_init__(self):
        self.path, self.line = caller()  # the spec module's line that builds the Loss
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
        clash = [nm for nm in names if nm in RESERVED or re.fullmatch(r"(t|dist)\d+", nm)]
        if clash:
            raise SpecError(f"Param name {clash[0]!r} is reserved for the generated code: choose another name")
        for key, value in self.keyword_defaults.items():
            _check_keyword_default(key, value)

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

# The values each common keyword accepts (the runtime checks the same at every call).
KEYWORD_VALUES = {
    "activation": ("auto", "sigmoid", "softmax", "none"),
    "reduction": ("none", "mean", "sum"),
    "include_background": (True, False),
    "batch": (True, False),
    "sync": (True, False),
}


def _check_keyword_default(key, value) -> None:
    if key not in COMMON_KEYWORDS:
        raise SpecError(f"keyword_defaults names {key!r}, which is no common keyword: use one of "
                        f"{', '.join(COMMON_KEYWORDS)}")
    if key == "ignore_index":
        ok = value is None or (isinstance(value, int) and not isinstance(value, bool))
        allowed = "an int or None"
    else:
        ok = any(value is v if isinstance(v, bool) else value == v for v in KEYWORD_VALUES[key])
        allowed = " or ".join(map(repr, KEYWORD_VALUES[key]))
    if not ok:
        raise SpecError(f"keyword_defaults[{key!r}] = {value!r}: write {allowed}")


def keyword_source(value) -> str:
    """A keyword's default as the generated code writes it."""
    return f'"{value}"' if isinstance(value, str) else repr(value)


def common_keywords(loss) -> dict:
    """The common keywords and the source text of their defaults, for this loss."""
    return {key: keyword_source(loss.keyword_defaults[key]) if key in loss.keyword_defaults else default
            for key, default in COMMON_KEYWORDS.items()}


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

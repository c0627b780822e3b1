"""A Hypothesis strategy for spec files, drawn from the DSL's grammar.

A spec is text, as an author writes it: parameters with and without domains, helper terms on their own
lines, a formula over the fields built from sums over i and c, log/exp/powers/ratios, indicators and
extrema, the compiler's primitives and references to bundled specs, then claims. The expressions are
typed by the indices they leave free (per class and pixel, per class, per pixel, per sample), so most
drawn specs are well formed; a few carry one of the mistakes authors make (an index used as a number,
a division by zero, a misspelt reference, ...), which the compiler must refuse at their line.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import strategies as st

NAME = "fuzzed"

# (domain text or None, a default inside it)
DOMAINS = [(None, "0.5"), ("(0, None)", "1.0"), ("(0, 1)", "0.3"), ("(1, None)", "2.0"), ("(-1, 1)", "0.0")]
PARAM_NAMES = ["alpha", "beta", "gamma", "smooth", "w"]

PIXEL_ATOMS = ["p[c, i]", "p[c, i]", "g[c, i]", "x[c, i]", "(1 - p[c, i])", "(1 - g[c, i])", "(p[c, i] - g[c, i])",
               "p[c, i] * g[c, i]"]
BOUNDED = ["p[c, i]", "g[c, i]", "-p[c, i]", "(1 - p[c, i])", "(p[c, i] * g[c, i])", "x[c, i] / 4"]
NUMBERS = ["2", "3", "S.Half", "Rational(1, 3)", "0.25", "1"]
PRIMITIVES = ["DistanceField(g[c, i])", "BoundaryWeight(g[c, i])", "BoundaryWeight(1 - g[c, i])",
              "DistanceField(p[c, i])", "ContourDistance(p[c, i], g[c, i])",
              "LovaszWeights(Abs(g[c, i] - p[c, i]), g[c, i])"]
PIXEL_REFS = ['ref("bce")', 'ref("focal", gamma=2)', 'ref("balanced_bce", beta={k})', 'ref("weighted_bce", beta=2)',
              'ref("distance_map_ce")', 'ref("shape_aware")', 'ref("focal", alpha={u}, gamma=1)']
CLASS_REFS = ['ref("dice", smooth={k})', 'ref("jaccard", smooth=1)', 'ref("tversky", alpha={u}, beta=0.7, smooth=1)',
              'ref("log_cosh_dice", smooth=1)', 'ref("focal_tversky", alpha=0.3, beta=0.7, gamma=2, smooth=1)',
              'ref("hausdorff_dt", alpha=1)', 'ref("sensitivity_specificity", r=0.05, smooth=1)',
              'ref("lovasz_softmax", classes="all")', 'ref("lovasz_hinge")',
              'ref("combo", alpha={u}, beta=0.5, smooth=1)']
SAMPLE_REFS = ['ref("generalized_dice", smooth=1)',
               'ref("exp_log", w_dice=0.8, w_cross=0.2, gamma_dice=0.3, gamma_cross=0.3, smooth=1)']
PIXEL_ONLY_REFS = ['ref("cross_entropy", weight=1)', 'ref("cross_entropy", weight=2)']

# Mistakes an author makes; each must end in a SpecError at the line that holds it.
MISTAKES = {
    "index as a value": ("", "Indicator(c) * p[c, i]"),
    "pixel index as a value": ("", "i * p[c, i]"),
    "free index": ("j = Symbol('j', integer=True)\n", "p[c, j]"),
    "misspelt reference": ("", 'ref("dise", smooth=1) * p[c, i]'),
    "unknown binding": ("", 'ref("dice", smoth=1) * p[c, i]'),
    "division by zero": ("", "p[c, i] / 0"),
    "unlowerable function": ("from sympy import sin\n", "sin(p[c, i])"),
    "spec primitive": ("class Spread(Primitive):\n    nargs = 1\n    scope = 'image'\n    runtime = 'spread'\n\n\n",
                       "Spread(g[c, i]) * p[c, i]"),
    "undeclared symbol": ("k = Symbol('k')\n", "k * p[c, i]"),
    "infinite constant": ("", "Min(p[c, i], oo)"),
}


@dataclass
class Draft:
    """What a drawn spec is made of, before it is written out."""

    params: list = field(default_factory=list)  # (name, domain text or None, default)
    weights: bool = False  # a ClassWeights parameter `weight`
    helpers: list = field(default_factory=list)  # lines "t<k> = <expr>"
    preamble: str = ""
    mistake: str = ""


class Builder:
    """Draws typed terms; `draw` is Hypothesis's."""

    def __init__(self, draw, draft: Draft):
        self.draw, self.draft = draw, draft

    def choice(self, options):
        return self.draw(st.sampled_from(options))

    def constant(self) -> str:
        names = [name for name, _, _ in self.draft.params]
        return self.choice(NUMBERS + names) if names and self.draw(st.booleans()) else self.choice(NUMBERS)

    def any_param(self) -> str:
        names = [name for name, _, _ in self.draft.params]
        return self.choice(names) if names else self.constant()

    def positive(self) -> str:
        """A parameter with a positive domain, or a positive number: fit for exponents and bindings."""
        names = [name for name, dom, _ in self.draft.params if dom in ("(0, None)", "(1, None)")]
        return self.choice(names + ["2", "S.Half"]) if names else self.choice(["2", "S.Half", "3"])

    def unit(self) -> str:
        names = [name for name, dom, _ in self.draft.params if dom == "(0, 1)"]
        return self.choice(names + ["0.25", "S.Half"]) if names else self.choice(["0.25", "S.Half"])

    def ref(self, template: str) -> str:
        return template.format(k=self.positive(), u=self.unit())

    def helper(self, text: str) -> str:
        """Sometimes name a term on its own line, as authors do (errors must point at that line)."""
        if self.draw(st.integers(0, 3)) == 0:
            name = f"t{len(self.draft.helpers)}"
            self.draft.helpers.append(f"{name} = {text}")
            return name
        return text

    # per class and pixel ------------------------------------------------------------------------
    def pixel(self, depth: int) -> str:
        kind = self.choice(["atom"] * 3 + ["const"] + (["unary"] * 3 + ["binary"] * 3 + ["primitive", "ref", "scaled",
                                                                                     "weighted"]
                                                     if depth > 0 else []))
        if kind == "weighted":
            self.draft.weights = True
            return f"weight[c] * {self.pixel(depth - 1)}"
        if kind == "atom":
            return self.choice(PIXEL_ATOMS)
        if kind == "const":
            return self.constant()
        if kind == "primitive":
            return self.choice(PRIMITIVES)
        if kind == "ref":
            return self.ref(self.choice(PIXEL_REFS))
        if kind == "scaled":  # a per-class statistic broadcast over the pixels
            return f"{self.pixel(depth - 1)} * {self.per_class(depth - 1)}"
        if kind == "binary":
            a, b = self.pixel(depth - 1), self.pixel(depth - 1)
            op = self.choice(["+", "-", "*", "/"])
            if op == "/":
                b = self.choice([f"({b})", f"({b} + 1)", f"({b} + {self.positive()})"])
            return self.helper(f"({a} {op} {b})")
        a = self.pixel(depth - 1)
        unary = self.choice(["log", "log1p", "exp", "sqrt", "square", "cube", "inverse", "power", "abs", "indicator",
                             "max", "min", "sigmoid", "softplus", "tanh", "cosh", "neg", "complement", "any_power",
                             "extremum"])
        return self.helper({
            "log": f"log({a})",
            "log1p": f"log(1 + {self.choice(BOUNDED)})",
            "exp": f"exp({self.choice(BOUNDED)})",
            "sqrt": f"sqrt({a})",
            "square": f"({a})**2",
            "cube": f"({a})**3",
            "inverse": f"1 / ({a})",
            "power": f"({a})**{self.positive()}",
            "abs": f"Abs({a})",
            "indicator": f"Indicator({a} - {self.choice(['S.Half', '0', '1'])})",
            "max": f"Max({a}, {self.choice(NUMBERS)})",
            "min": f"Min({a}, {self.choice(NUMBERS)})",
            "sigmoid": f"sigmoid({a})",
            "softplus": f"softplus({a})",
            "tanh": f"tanh({a})",
            "cosh": f"cosh({self.choice(BOUNDED)})",
            "neg": f"-({a})",
            "any_power": f"({a})**{self.any_param()}",  # a parameter with no domain here must be refused
            "extremum": f"{self.choice(['Max', 'Min'])}({a}, {self.pixel(depth - 1)})",
            "complement": f"(1 - {a})",
        }[unary])

    # per class --------------------------------------------------------------------------------
    def per_class(self, depth: int) -> str:
        kind = self.choice(["sum", "mean", "ratio", "ref"] + (["unary", "binary"] if depth > 0 else []))
        if kind == "sum":
            return f"Sum({self.pixel(max(depth - 1, 0))}, i)"
        if kind == "mean":
            return f"Mean({self.pixel(max(depth - 1, 0))}, i)"
        if kind == "ratio":
            s = self.positive()
            a, b = self.pixel(max(depth - 1, 0)), self.pixel(max(depth - 1, 0))
            return self.helper(f"(2 * Sum({a}, i) + {s}) / (Sum({b}, i) + Sum(g[c, i], i) + {s})")
        if kind == "ref":
            return self.ref(self.choice(CLASS_REFS))
        if kind == "binary":
            a, b = self.per_class(depth - 1), self.per_class(depth - 1)
            op = self.choice(["+", "-", "*", "/"])
            if op == "/":
                b = f"({b} + {self.positive()})"
            return self.helper(f"({a} {op} {b})")
        a = self.per_class(depth - 1)
        return self.helper(self.choice([f"log(1 + {a})", f"({a})**2", f"({a})**{self.positive()}", f"Max({a}, 1)",
                                        f"(1 - {a})", f"sqrt({a})", f"Indicator({a})", f"exp(-{a})",
                                        f"Indicator(Sum(g[c, i], i)) * {a}", f"{a} / Max(Sum(g[c, i], i), 1)"]))

    # per pixel (classes summed) and per sample ------------------------------------------------------
    def per_pixel(self, depth: int) -> str:
        kind = self.choice(["sum", "ref", "mean"])
        if kind == "ref":
            return self.ref(self.choice(PIXEL_ONLY_REFS))
        if kind == "mean":
            return f"Mean({self.pixel(max(depth - 1, 0))}, c)"
        return f"Sum({self.pixel(max(depth - 1, 0))}, c)"

    def per_sample(self, depth: int) -> str:
        kind = self.choice(["classes", "mean_classes", "pixels", "ref"])
        if kind == "classes":
            return f"Sum({self.per_class(max(depth - 1, 0))}, c)"
        if kind == "mean_classes":
            return f"Mean({self.per_class(max(depth - 1, 0))}, c)"
        if kind == "pixels":
            return f"Mean({self.per_pixel(max(depth - 1, 0))}, i)"
        return self.ref(self.choice(SAMPLE_REFS))


@st.composite
def params(draw) -> list:
    names = draw(st.lists(st.sampled_from(PARAM_NAMES), max_size=3, unique=True))
    return [(name, *draw(st.sampled_from(DOMAINS))) for name in names]


def param_line(name, domain, default) -> str:
    where = f", domain={domain}" if domain else ""
    return f'{name} = Param("{name}", {default}{where}, doc="a drawn parameter")'


@st.composite
def claims(draw, granularity: str) -> list:
    chosen = draw(st.lists(st.sampled_from(["nonnegative", "bounded", "zero", "identity", "erratum", "le",
                                            "permutation", "restricted"]), max_size=2, unique=True))
    text = {
        "nonnegative": "Property.nonnegative()",
        "bounded": "Property.bounded(0, 1)",
        "zero": "Property.zero_at_perfect()",
        "identity": f'Identity(ref("{NAME}"), EXPR)',
        "erratum": f'Identity(ref("{NAME}"), EXPR + 1, expect="refuted")',
        "le": f'Property.le(ref("{NAME}"), ref("{NAME}") + Sum(p[c, i] ** 2, c))',
        "permutation": "Property.permutation_invariant()",
        "restricted": "Property.nonnegative(classes=(2, None), inputs=\"softmax\")",
    }
    return [text[k] for k in chosen if not (k == "permutation" and granularity in ("pixel", "per_pixel"))]


@st.composite
def specs(draw) -> str:
    """The text of one spec file (its name is always `fuzzed`)."""
    draft = Draft(params=draw(params()))
    build = Builder(draw, draft)
    depth = draw(st.integers(1, 3))
    granularity = draw(st.sampled_from(["pixel", "class", "per_pixel", "sample"]))
    expr = {"pixel": build.pixel, "class": build.per_class, "per_pixel": build.per_pixel,
            "sample": build.per_sample}[granularity](depth)
    if draw(st.integers(0, 3)) == 0:  # a weighted combination, the second term broadcast if coarser
        other = build.per_class(depth - 1) if granularity in ("pixel", "class") else build.per_sample(depth - 1)
        expr = f"{build.unit()} * {expr} + (1 - {build.unit()}) * {other}"
    if draw(st.integers(0, 9)) == 0:
        draft.mistake = draw(st.sampled_from(sorted(MISTAKES)))
        preamble, wrong = MISTAKES[draft.mistake]
        draft.preamble = preamble
        wrong = wrong if granularity == "pixel" else f"Sum({wrong}, i)" if granularity == "class" else \
            f"Sum({wrong}, c)" if granularity == "per_pixel" else f"Sum(Sum({wrong}, i), c)"
        draft.helpers.append(f"t{len(draft.helpers)} = {wrong}")
        expr = f"{expr} + t{len(draft.helpers) - 1}"
    listed = [name for name, _, _ in draft.params]
    if listed and draw(st.integers(0, 19)) == 0:  # a parameter left out of params=[...]
        listed = listed[:-1]
    claim_lines = draw(claims(granularity)) if draw(st.integers(0, 2)) == 0 else []
    weighed = granularity == "class" and draw(st.integers(0, 5)) == 0  # the mean over present classes only
    lines = ['"""A spec drawn by the fuzzer."""', "from symloss.compiler.dsl import *  # noqa: F401,F403",
             draft.preamble.rstrip("\n")]
    lines += [param_line(*prm) for prm in draft.params]
    if draft.weights:
        lines.append('weight = ClassWeights("weight", doc="a weight per class")')
        listed = listed + ["weight"]
    lines += draft.helpers
    lines += [f"EXPR = {expr}", "", "LOSS = Loss(", f'    name="{NAME}",', '    title="Fuzzed",', '    family="region",',
              '    paper="arXiv:0000.00000",', '    summary="A drawn formula.",', f"    params=[{', '.join(listed)}],",
              "    expr=EXPR,"]
    if weighed:
        lines.append("    mean_denominator=Indicator(Sum(g[c, i], i)),")
    lines += ["    claims=["]
    lines += [f"        {claim}," for claim in claim_lines]
    lines += ["    ],", ")"]
    return "\n".join(line for line in lines if line is not None) + "\n"

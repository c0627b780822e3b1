"""float32 accuracy: an adversarial corpus, the error of any implementation against the oracle, the targets.

The oracle tests run the generated code in float64, which cannot see cancellation in float32. Here
each implementation (the generated loss, its literal translation, a framework kernel: callables
given by the caller, so this module needs no Paddle) evaluates float32 inputs in float32, and its
value and gradient are compared with the literal formula at 100 digits on the same float32 inputs
(`PooledOracle`, exact on images of any size). A rewrite earns its place only if it is not less
accurate than the literal formula (Herbie's discipline: sample inputs, measure against high
precision, keep the more accurate form).

Corpus rows are images whose pixels repeat a few kinds (a palette of logit vectors, placed at
random), so the exact evaluation stays cheap at 512x512; every float32 sum still runs over every
pixel. Logits sit at a chosen magnitude (1e-3, 5, 30, 88), with the predicted class right on most
pixels and wrong on a fifth of them; the palettes' magnitudes differ, so no two kinds tie exactly.
"""
from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

import sympy as sp

from ..frontend.expand import resolve
from .oracle import Options, Oracle
from .pooled import Exact, PooledOracle

UNIT_ROUNDOFF = 2.0**-24  # float32
FLOOR = 2.0**-23  # one float32 ulp at 1: rounding the result itself costs that much
VALUE_TARGET = 1e-5  # about 100 ulps
GRADIENT_TARGET = 1e-4
RATIO = 2.0  # generated <= RATIO * literal on every row

SCENES = ("random", "full", "empty", "one_pixel", "soft", "ignored", "batch")
SCALES = (1e-3, 5.0, 30.0, 88.0)
CLASSES = (1, 2, 4)
PALETTE = 8  # distinct logit magnitudes per class in an image
WRONG = 0.2  # share of pixels whose predicted class is not the target's

SCENE_TEXT = {
    "random": "labels drawn uniformly",
    "full": "one class covers every pixel (C = 1: all foreground; C > 1: all class 0)",
    "empty": "a class absent (C = 1: no foreground; C > 1: no class 0)",
    "one_pixel": "a one-pixel foreground (the last class) in each image",
    "soft": "soft targets: label-smoothed one-hot rows, smoothing 0.5 down to 0.001 (C = 1: targets near 0 and 1)",
    "ignored": "labels drawn uniformly, 30% of the pixels ignored (255)",
    "batch": "labels drawn uniformly, batch=True (statistics over the whole batch)",
}


class NotApplicable(Exception):
    """An implementation does not compute this loss on this row (e.g. a kernel without ignore_index)."""


@dataclass(frozen=True)
class Row:
    """One corpus input: a scene (label layout), a logit magnitude, the number of classes, the image size."""

    scene: str
    scale: float
    classes: int
    size: int
    images: int
    palette: bool = True  # logits from a few kinds per image (False: every pixel's own, no ties)

    @property
    def name(self) -> str:
        return f"{self.scene}, C={self.classes}, {self.images}x{self.size}x{self.size}, |x|={self.scale:g}"

    @property
    def options(self) -> Options:
        return Options(batch=self.scene == "batch")

    def options_for(self, loss) -> Options:
        """The row's options at the generated function's defaults for `loss` (its keyword_defaults)."""
        return Options.for_loss(loss, batch=self.scene == "batch")

    def inputs(self) -> tuple[np.ndarray, np.ndarray]:
        """(float32 logits (N, C, H, W), labels: int64 (N, H, W), or float32 targets like the logits)."""
        rng = np.random.default_rng(zlib.crc32(self.name.encode()))
        N, C, H = self.images, self.classes, self.size
        shape = (N, H, H)
        target = None
        if self.scene == "soft":
            target = _soft_targets(rng, N, C, H)
            label = target
            cls = (target[:, 0] >= 0.5).astype(np.int64) if C == 1 else np.argmax(target, axis=1)
        else:
            label = _labels(self.scene, rng, C, shape)
            cls = np.where(label == 255, rng.integers(0, max(C, 2), shape), label)
        # Magnitudes are drawn per palette entry, predicted class and target class, and separately for
        # positive and negative logits: a logit's value (in any class) then identifies its pixel's kind,
        # so pixels tie (in an error, a hinge, a softmax) only with pixels of their own kind.
        pick = rng.integers(0, PALETTE, shape)
        wrong = rng.random(shape) < WRONG
        targets = max(C, 2)
        if C == 1:
            predicted = np.where(wrong, 1 - cls, cls)
            up = (predicted == 1)[..., None]
        else:
            predicted = np.where(wrong, (cls + rng.integers(1, C, shape)) % C, cls)
            up = np.arange(C) == predicted[..., None]
        at = (pick, predicted, cls)
        positive = self.scale * (1 - 0.25 * rng.random((PALETTE, targets, targets, C)))[at]  # (N, H, W, C)
        negative = -self.scale * (1 - 0.25 * rng.random((PALETTE, targets, targets, C)))[at]
        if not self.palette:  # every pixel its own magnitudes: a max or min over neighbours meets no exact tie
            positive = self.scale * (1 - 0.25 * rng.random(shape + (C,)))
            negative = -self.scale * (1 - 0.25 * rng.random(shape + (C,)))
        x = np.where(up, positive, negative)
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2)).astype(np.float32), label


def _labels(scene: str, rng, C: int, shape: tuple) -> np.ndarray:
    classes = max(C, 2)
    if scene == "full":
        return np.full(shape, 1 if C == 1 else 0, dtype=np.int64)
    if scene == "empty":
        return np.zeros(shape, dtype=np.int64) if C == 1 else rng.integers(1, C, shape)
    if scene == "one_pixel":
        label = np.zeros(shape, dtype=np.int64)
        for b in range(shape[0]):
            label[b, rng.integers(0, shape[1]), rng.integers(0, shape[2])] = classes - 1
        return label
    label = rng.integers(0, classes, shape)
    if scene == "ignored":
        label[rng.random(shape) < 0.3] = 255
    return label


def _soft_targets(rng, N: int, C: int, H: int) -> np.ndarray:
    smoothing = np.array([0.5, 0.1, 0.01, 0.001])
    eps = smoothing[rng.integers(0, len(smoothing), (N, H, H))][..., None]
    if C == 1:
        hot = rng.integers(0, 2, (N, H, H))[..., None]
        g = np.where(hot == 1, 1 - eps / 2, eps / 2)
    else:
        hot = np.arange(C) == rng.integers(0, C, (N, H, H))[..., None]
        g = (1 - eps) * hot + eps / C
    return np.ascontiguousarray(g.transpose(0, 3, 1, 2)).astype(np.float32)


def corpus(sizes: tuple = (256, 512), classes: tuple = CLASSES) -> list[Row]:
    """Every scene at every magnitude for the first size (2 images); the larger sizes (1 image) at
    |x| = 5 for every scene and at every magnitude for random labels."""
    rows = []
    for k, size in enumerate(sizes):
        for C in classes:
            for scene in SCENES:
                for scale in SCALES:
                    if k == 0 or scale == 5.0 or scene == "random":
                        rows.append(Row(scene, scale, C, size, 2 if k == 0 else 1))
    return rows


def quick_corpus(size: int = 64) -> list[Row]:
    """The corpus at 64x64 (4096 pixels: still far past the 256 where an exact count loses to a
    difference in float32), or `size`: every scene at |x| = 30, random labels at every magnitude."""
    return [Row(scene, scale, C, size, 2) for C in CLASSES for scene in SCENES for scale in SCALES
            if scale == 30.0 or scene == "random"]


UNROLLED_SIZE = 17
# Larger images for the unrolled oracle's losses (full corpus only): its cost grows with the pixels
# (about 4 ms a pixel and class), so a few rows at |x| = 30, one image each.
UNROLLED_LARGE = ((64, "random", (1, 2, 4)), (64, "full", (1,)), (64, "one_pixel", (1,)), (256, "random", (1,)))


def unrolled_corpus(quick: bool = False) -> list[Row]:
    """The corpus for losses only the pixel-by-pixel oracle evaluates (see `oracle_for`): 17x17 images
    (289 pixels, past the 256 where an exact count loses to a difference in float32), every scene at
    |x| = 30 (the saturated logits where float32 meets the most trouble), then the UNROLLED_LARGE rows
    (64x64 and 256x256 images, where the float32 sums run long); for the tests, 8x8 images, every
    scene at C = 1 and 4. Each pixel has its own logits (no palette: the oracle's cost does not depend
    on repeats, and a max over neighbours meets no exact tie)."""
    if quick:
        return [Row(scene, 30.0, C, 8, 2, palette=False) for C in (1, 4) for scene in SCENES]
    rows = [Row(scene, 30.0, C, UNROLLED_SIZE, 2, palette=False) for C in CLASSES for scene in SCENES]
    return rows + [Row(scene, 30.0, C, size, 1, palette=False)
                   for size, scene, classes in UNROLLED_LARGE for C in classes]


class UnrolledOracle:
    """`Oracle` (the spec unrolled over every pixel) answering as `PooledOracle.evaluate` does; it has no
    rounding bound, so a comparison with the literal resolves one ulp. Its losses take a max or min over
    each pixel's neighbours (a soft erosion, a soft skeleton): where two neighbours' activations differ
    exactly but not in float32 (saturated logits), float32 code picks either, each a valid subgradient;
    `unresolved_ties` counts such pairs, as the pooled oracle counts a sort's."""

    def __init__(self, loss, registry: dict):
        self.loss = loss
        self.oracle = Oracle(loss, registry)
        self.one_minus = sp.S.One in sp.Add.make_args(resolve(loss.expr, registry))

    def evaluate(self, logit, label, params=None, options=None) -> Exact:
        """The loss and its gradient; for a loss 1 - r, the rounding bound of its last subtraction alone,
        |r| = |1 - L| (a lower bound of the formula's own: the pooled oracle computes the whole)."""
        options = Options.for_loss(self.loss) if options is None else options
        value, gradient = self.oracle(logit.astype(np.float64), label, params, options)
        return Exact(float(value), np.asarray(gradient, dtype=np.float64),
                     unresolved_ties=neighbours_float32_cannot_order(logit, options.activation),
                     rounding_bound=abs(1 - float(value)) if self.one_minus else 0.0)


def neighbours_float32_cannot_order(logit: np.ndarray, activation: str) -> int:
    """Pairs of neighbouring pixels (3x3, same image and class) whose activations differ exactly but lie
    within 8 float32 ulps of each other (a sigmoid at |x| = 30 rounds to 1 at both)."""
    x = logit.astype(np.float64)
    if activation == "auto":
        activation = "sigmoid" if x.shape[1] == 1 else "softmax"
    if activation == "sigmoid":
        p = 1 / (1 + np.exp(-x))
    elif activation == "softmax":
        e = np.exp(x - x.max(axis=1, keepdims=True))
        p = e / e.sum(axis=1, keepdims=True)
    else:
        p = x
    found = 0
    H, W = p.shape[2:]
    for dy, dx in ((0, 1), (1, -1), (1, 0), (1, 1)):
        a = p[:, :, max(0, -dy):H - max(0, dy), max(0, -dx):W - max(0, dx)]
        b = p[:, :, max(0, dy):H - max(0, -dy) or None, max(0, dx):W - max(0, -dx) or None]
        xa = x[:, :, max(0, -dy):H - max(0, dy), max(0, -dx):W - max(0, dx)]
        xb = x[:, :, max(0, dy):H - max(0, -dy) or None, max(0, dx):W - max(0, -dx) or None]
        close = np.abs(a - b) <= 8 * UNIT_ROUNDOFF * np.maximum(np.abs(a), np.abs(b))
        found += int(np.sum(close & (xa != xb)))
    return found


def oracle_for(loss, registry: dict):
    """(the oracle that measures `loss`, why it is not the pooled one or ""): the pooled oracle, exact on
    images of any size, wherever it follows the formula; else the unrolled one, on `unrolled_corpus`."""
    why = PooledOracle.limitation(loss, registry)
    return (UnrolledOracle(loss, registry) if why else PooledOracle(loss, registry)), why


def check_corpus() -> list[Row]:
    """The tests' share of the quick corpus (64x64): every scene at |x| = 30 for C = 1 and C = 4, random
    labels at every other magnitude for C = 2 (each row kind once, at about half the quick corpus's cost)."""
    return [r for r in quick_corpus() if (r.scale == 30.0 and r.classes != 2) or (r.classes == 2 and r.scene == "random"
                                                                                  and r.scale != 30.0)]


# Implementations: fn(logit float32, label, Options) -> (value, gradient), computed in float32.
Implementation = Callable[[np.ndarray, np.ndarray, Options], tuple]


@dataclass
class Result:
    """One implementation on one row."""

    value: float
    value_error: float  # |v - v*| / |v*|
    gradient_error: float  # ||g - g*||_2 / ||g*||_2
    finite: bool  # value and gradient free of NaN and Inf


@dataclass
class Measured:
    """One loss on one row: the exact value, the condition number of the value, each implementation's errors."""

    row: Row
    exact: float
    condition: float  # sum_i |x_i dL/dx_i| / |L|: the relative error a perturbation of u in each logit causes, over u
    results: dict = field(default_factory=dict)  # implementation name -> Result, or the reason it was not run
    defined: bool = True  # the oracle's value and gradient are finite
    value_rounding: float = 0.0  # the error of the exact value rounded to float32
    gradient_rounding: float = 0.0  # the same for the gradient (large where it underflows float32)
    unresolved_ties: int = 0  # Lovász: pixels of different kinds whose errors float32 cannot order
    amplification: float = 0.0  # the literal formula's first-order rounding-error coefficient, over |L|

    @property
    def resolution(self) -> float:
        """The smallest error difference a comparison with the literal translation resolves on this row:
        one ulp, or u times the literal formula's own error amplification (its first-order bound: the
        literal's actual error lands anywhere below it, by how its roundings happen to cancel)."""
        return max(FLOOR, UNIT_ROUNDOFF * self.amplification)

    @property
    def ill_conditioned(self) -> bool:
        """Even an exactly rounded evaluation of the logits' effect would miss the value target here."""
        return self.condition * UNIT_ROUNDOFF > VALUE_TARGET

    @property
    def rounding_limited(self) -> bool:
        """The literal formula itself, each operation rounded once in float32, may miss the value target
        here (u Lambda > 1e-5: e.g. a loss 1 - r with r within 1e-3 of 1)."""
        return UNIT_ROUNDOFF * self.amplification > VALUE_TARGET

    @property
    def value_representable(self) -> bool:
        return self.value_rounding <= VALUE_TARGET

    @property
    def gradient_representable(self) -> bool:
        """False where float32 cannot hold the exact gradient (its entries underflow)."""
        return self.gradient_rounding <= GRADIENT_TARGET


def relative_error(value: float, exact: float) -> float:
    if exact == 0:
        return 0.0 if value == 0 else math.inf
    return abs(value - exact) / abs(exact)


def normwise_error(gradient: np.ndarray, exact: np.ndarray, groups: np.ndarray | None = None) -> float:
    """||g - g*|| / ||g*||; with `groups`, g is first replaced by its mean over each group of pixels
    (the oracle's gradient for a loss that sorts is that mean: see pooled.Exact)."""
    g = np.asarray(gradient, dtype=np.float64)
    if groups is not None:
        g = group_means(g, groups)
    scale = np.linalg.norm(exact)
    difference = np.linalg.norm(g - exact)
    if scale == 0:
        return 0.0 if difference == 0 else math.inf
    return float(difference / scale)


def group_means(gradient: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Each pixel's gradient (every class) replaced by the mean over its group (N, *spatial) ids;
    pixels with id -1 (ignored) are left as they are."""
    N, C = gradient.shape[:2]
    flat = gradient.reshape(N, C, -1).transpose(0, 2, 1).reshape(-1, C)
    ids = groups.reshape(-1)
    keep = ids >= 0
    labels, inverse = np.unique(ids[keep], return_inverse=True)
    counts = np.bincount(inverse, minlength=len(labels))
    out = flat.copy()
    for k in range(C):
        sums = np.bincount(inverse, weights=flat[keep, k], minlength=len(labels))
        out[keep, k] = (sums / counts)[inverse]
    return out.reshape(N, -1, C).transpose(0, 2, 1).reshape(gradient.shape)


def measure(loss, registry: dict, implementations: dict, rows: list, params: dict | None = None,
            on_row: Callable | None = None) -> list:
    """Run every implementation {name: fn} of `loss` on every row; return a Measured per row."""
    oracle, _ = oracle_for(loss, registry)
    out = []
    for row in rows:
        logit, label = row.inputs()
        options = row.options_for(loss)
        exact = oracle.evaluate(logit, label, params, options)
        defined = math.isfinite(exact.value) and bool(np.all(np.isfinite(exact.gradient)))
        condition = (float(np.sum(np.abs(logit.astype(np.float64) * exact.gradient)) / abs(exact.value))
                     if defined and exact.value != 0 else 0.0)
        m = Measured(row, exact.value, condition, defined=defined, unresolved_ties=exact.unresolved_ties,
                     amplification=(exact.rounding_bound / abs(exact.value) if defined and exact.value != 0 else 0.0))
        if defined:
            m.value_rounding = relative_error(float(np.float32(exact.value)), exact.value)
            m.gradient_rounding = normwise_error(exact.gradient.astype(np.float32), exact.gradient)
        for name, fn in implementations.items():
            try:
                value, gradient = fn(logit, label, options)
            except NotApplicable as why:
                m.results[name] = str(why) or "not applicable"
                continue
            gradient = np.asarray(gradient, dtype=np.float64)
            finite = math.isfinite(value) and bool(np.all(np.isfinite(gradient)))
            m.results[name] = Result(
                value,
                relative_error(value, exact.value) if finite else math.inf,
                normwise_error(gradient, exact.gradient, exact.groups) if finite else math.inf,
                finite,
            )
        out.append(m)
        if on_row is not None:
            on_row(m)
    return out


def violations(m: Measured, generated: str = "generated", literal: str = "literal") -> list[str]:
    """What `generated` fails of the targets on one row (nothing where the oracle itself is undefined).

    Exempt, and reported as such: the value target where the loss is ill-conditioned (then only the
    comparison with the literal applies) or its value is outside float32's range; the gradient
    targets where float32 cannot hold the exact gradient; the absolute gradient target where a sort
    meets errors float32 cannot order (the literal shares the sort, so the comparison still applies).
    """
    if not m.defined:
        return []
    gen = m.results.get(generated)
    if not isinstance(gen, Result):
        return [f"{m.row.name}: {generated} did not run ({gen})"]
    if not gen.finite:
        return [f"{m.row.name}: NaN or Inf where the loss is finite"]
    found = []
    if (gen.value_error > VALUE_TARGET and m.value_representable and not m.ill_conditioned
            and not m.rounding_limited):
        found.append(f"{m.row.name}: value error {gen.value_error:.2e} > {VALUE_TARGET:g}")
    if gen.gradient_error > GRADIENT_TARGET and m.gradient_representable and not m.unresolved_ties:
        found.append(f"{m.row.name}: gradient error {gen.gradient_error:.2e} > {GRADIENT_TARGET:g}")
    lit = m.results.get(literal)
    if isinstance(lit, Result):
        compared = [("value", gen.value_error, lit.value_error, m.value_representable, m.resolution),
                    ("gradient", gen.gradient_error, lit.gradient_error, m.gradient_representable, FLOOR)]
        for what, mine, theirs, representable, resolution in compared:
            if representable and mine > RATIO * max(theirs, resolution):
                found.append(f"{m.row.name}: {what} error {mine:.2e} > {RATIO:g} x the literal's {theirs:.2e}")
    return found


@dataclass
class Worst:
    """The worst error of one implementation over a loss's rows, where it is defined."""

    value: float = 0.0
    value_row: str = ""
    gradient: float = 0.0
    gradient_row: str = ""
    nonfinite: int = 0  # rows with NaN or Inf where the oracle is finite
    rows: int = 0  # rows it ran on


@dataclass
class Summary:
    """One loss over the corpus: the worst errors of each implementation, the exemptions, the violations."""

    name: str
    worst: dict  # implementation name -> Worst
    ill_conditioned: list  # rows exempt from the value target: (row name, kappa)
    unrepresentable: list  # rows whose exact gradient float32 cannot hold: (row name, its rounding error)
    unresolved: list  # rows where a sort meets errors float32 cannot order: (row name, pairs)
    undefined: list  # rows where the loss itself is not finite
    violations: list
    rounding_limited: list = field(default_factory=list)  # rows exempt from the value target: (row, u Lambda)
    oracle: str = "pooled"  # which oracle measured it (and why not the pooled one)
    corpus: list = field(default_factory=list)  # the rows it was measured on
    seconds: float = 0.0  # how long measuring it took


def summarize(name: str, measured: list) -> Summary:
    """The worst errors over the rows where each applies: values where float32 can hold the exact value,
    gradients where it can hold the exact gradient."""
    worst: dict = {}
    for m in measured:
        if not m.defined:
            continue
        for impl, r in m.results.items():
            w = worst.setdefault(impl, Worst())
            if not isinstance(r, Result):
                continue
            w.rows += 1
            if not r.finite:
                w.nonfinite += 1
                continue
            if m.value_representable and r.value_error > w.value:
                w.value, w.value_row = r.value_error, m.row.name
            if m.gradient_representable and r.gradient_error > w.gradient:
                w.gradient, w.gradient_row = r.gradient_error, m.row.name
    return Summary(
        name, worst,
        [(m.row.name, m.condition) for m in measured if m.defined and m.ill_conditioned],
        [(m.row.name, m.gradient_rounding) for m in measured if m.defined and not m.gradient_representable],
        [(m.row.name, m.unresolved_ties) for m in measured if m.defined and m.unresolved_ties],
        [m.row.name for m in measured if not m.defined],
        [v for m in measured for v in violations(m)],
        [(m.row.name, UNIT_ROUNDOFF * m.amplification) for m in measured
         if m.defined and m.rounding_limited and not m.ill_conditioned],
    )

"""The test oracle: a spec's literal formula, evaluated at 100 digits and differentiated exactly.

No rewrite, no shared statistic, no mask arithmetic: ignored pixels are simply left out of each
unit (an image, or the batch), the activation is written out (1/(1+e^-x), e^x/sum e^x), and the
derivative is taken by the chain rule on the formula's own expression graph. Whatever the compiler
did to the generated code, this is what it must agree with.
"""
from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

import mpmath
import numpy as np
import sympy as sp

from ..frontend.language import choose
from .evaluate import DPS, argument_array, evaluator
from .vjp import Node, backward
from ..frontend.expand import granularity, resolve
from ..frontend.primitives import extract


@dataclass
class Options:
    activation: str = "auto"
    ignore_index: int | None = 255
    include_background: bool = True
    batch: bool = False
    reduction: str = "mean"

    @classmethod
    def for_loss(cls, loss, **given) -> "Options":
        """The generated function's defaults for `loss` (its keyword_defaults included), then `given`."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**({k: v for k, v in loss.keyword_defaults.items() if k in names} | given))


class Activation:
    """Probabilities from one pixel's C logits, and their exact Jacobian."""

    def __init__(self, activation: str, classes: int):
        X = [sp.Symbol(f"X_{k}", real=True) for k in range(classes)]
        if activation == "sigmoid":
            P = [1 / (1 + sp.exp(-v)) for v in X]
        elif activation == "softmax":
            total = sp.Add(*[sp.exp(v) for v in X])
            P = [sp.exp(v) / total for v in X]
        else:
            P = list(X)
        jacobian = [sp.diff(pk, xl) for pk in P for xl in X]
        self.classes = classes
        self._fn = sp.lambdify(X, P + jacobian, modules="mpmath", cse=True)

    def __call__(self, logits):
        """(probabilities (C,), Jacobian (C, C) with [k][l] = dp_k / dx_l), as mpf."""
        out = self._fn(*logits)
        C = self.classes
        return out[:C], [out[C + k * C: C + (k + 1) * C] for k in range(C)]


@functools.lru_cache(maxsize=32)
def activation_function(activation: str, classes: int) -> Activation:
    return Activation(activation, classes)


def two_class_inputs(logit, label, options):
    """One channel read as the two classes [1 - p, p]: logits [-x, x] under a sigmoid, [1 - x, x] for
    probabilities, a soft label [1 - g, g]; returns (logit, label, options) for two channels."""
    if options.activation == "softmax":
        raise ValueError("activation='softmax' with one channel")
    activation = "sigmoid" if options.activation == "auto" else options.activation
    other = -logit if activation == "sigmoid" else 1 - logit
    if np.issubdtype(label.dtype, np.floating):
        label = np.concatenate([1 - label, label], axis=1)
    return (np.concatenate([other, logit], axis=1), label,
            dataclasses.replace(options, activation=activation))


def two_class_gradient(grad):
    """The gradient of the two channels back on the one: d(-x)/dx = d(1 - x)/dx = -1."""
    return grad[:, 1:] - grad[:, :1]


class Oracle:
    """The literal formula of one spec, over a whole batch, with the generated API's semantics."""

    def __init__(self, loss, registry: dict):
        self.loss = loss
        self.expr = resolve(loss.expr, registry)
        self.mean_denominator = resolve(loss.mean_denominator, registry) if loss.mean_denominator is not None else None
        self.per_class, self.per_pixel = granularity(loss, registry)

    def __call__(self, logit: np.ndarray, label: np.ndarray, params: dict | None = None,
                 options: Options | None = None, cotangent: np.ndarray | None = None):
        """(loss, d loss / d logit) for `options.reduction`; for "none", the gradient is that of
        sum(cotangent * loss), with `cotangent` shaped like the loss (ones if not given). Without
        `options`, the generated function's defaults for this loss."""
        options = Options.for_loss(self.loss) if options is None else options
        if self.loss.binary_as_two_classes and logit.shape[1] == 1:
            return self._two_classes(logit, label, params, options, cotangent)
        params = {p.name: (None if p.default is None else p.default if isinstance(p.default, str)
                           else float(p.default)) for p in self.loss.params} | (params or {})
        expr = choose(self.expr, params)
        mean_denominator = choose(self.mean_denominator, params)
        N, C = logit.shape[:2]
        spatial = tuple(logit.shape[2:])
        x = logit.reshape(N, C, -1).astype(np.float64)
        P = x.shape[2]
        activation = options.activation
        if activation == "auto":
            activation = "sigmoid" if C == 1 else "softmax"
        first = 1 if (not options.include_background and C > 1) else 0
        if any(params.get(w.name) is not None for w in self.loss.weights):  # AllClasses terms read w_all
            params = params | {w.name: list(params[w.name])[first:] for w in self.loss.weights
                               if params.get(w.name) is not None} | {
                f"{w.name}_all": list(params[w.name]) for w in self.loss.weights if params.get(w.name) is not None}
        g_all, valid = self._target(label, logit.shape, options.ignore_index)
        g = g_all[:, first:]

        with mpmath.workdps(DPS):
            act = activation_function(activation, C)
            probs, jacobians = {}, {}
            for b in range(N):
                for j in range(P):
                    probs[b, j], jacobians[b, j] = act([mpmath.mpf(float(v)) for v in x[b, :, j]])
            fields = {  # (N, C - first, P) object arrays of mpf
                "p": np.array([[[probs[b, j][k + first] for j in range(P)] for k in range(C - first)]
                               for b in range(N)], dtype=object),
                "x": np.vectorize(mpmath.mpf, otypes=[object])(x[:, first:]),
                "g": g,
                "p_all": np.array([[[probs[b, j][k] for j in range(P)] for k in range(C)] for b in range(N)],
                                  dtype=object),
                "x_all": np.vectorize(mpmath.mpf, otypes=[object])(x),
                "g_all": g_all,
            }
            image_fields = self._image_primitives(expr, fields, params, C - first, spatial, C, valid)

            units = [[(b, j) for b in range(N) for j in range(P) if valid[b, j]]] if options.batch else \
                [[(b, j) for j in range(P) if valid[b, j]] for b in range(N)]
            keep_batch = self.per_pixel or not options.batch
            out_shape = ([N] if keep_batch else []) + ([C - first] if self.per_class else [])
            out = np.zeros(out_shape + ([P] if self.per_pixel else []))
            entries = []  # (unit, key, position, its share of the mean's denominator)
            for u, pixels in enumerate(units):
                if not pixels:
                    continue
                unit_fields = self._gather(fields | image_fields, pixels)
                keys = evaluator(expr, C - first, len(pixels), C).keys
                weights = (evaluator(mean_denominator, C - first, len(pixels), C)(unit_fields, params)
                           if mean_denominator is not None else {})
                for key in keys:
                    entries.append((u, key, self._position(u, key, pixels, keep_batch),
                                    float(weights.get(key, 1))))
            total_weight = sum(w for *_, w in entries) or 1.0
            # A weighted mean of a loss per unit is taken within each unit, then over the units with weight.
            unit_mean = mean_denominator is not None and not self.per_pixel
            unit_weight = {}
            for u, _, _, w in entries:
                unit_weight[u] = unit_weight.get(u, 0.0) + w
            counted = sum(1 for w in unit_weight.values() if w > 0) or 1

            def seed(u, key, pos, w):
                if options.reduction == "mean" and unit_mean:
                    return 1.0 / (unit_weight[u] * counted) if unit_weight[u] > 0 else 0.0
                if options.reduction == "mean":
                    return 1.0 / total_weight
                if options.reduction == "sum" or cotangent is None:
                    return 1.0
                return float(cotangent.reshape(out.shape)[pos])

            grad = np.zeros_like(x)

            def to_logits(d, columns):
                """Add the gradient with respect to the fields (in scope, and over every class) at the pixels
                `columns`, chained through the activation, to the logits' gradient."""
                width = len(columns)
                d_p = [[mpmath.mpf(0)] * width] * first + d["p"]
                d_x = [[mpmath.mpf(0)] * width] * first + d["x"]
                for name, into in (("p_all", d_p), ("x_all", d_x)):
                    if name in d:
                        into[:] = [[a + b for a, b in zip(r1, r2)] for r1, r2 in zip(into, d[name])]
                for col, (b, j) in enumerate(columns):
                    for l in range(C):  # chain rule through the activation: sum_k dL/dp_k dp_k/dx_l
                        total = mpmath.fsum(d_p[k][col] * jacobians[b, j][k][l] for k in range(C))
                        grad[b, l, j] += float(total + d_x[l][col])

            differentiable = [name for name, prim in extract(expr)[1] if prim.scope == "image" and prim.differentiable]
            adjoints = {name: np.zeros(image_fields[name].shape, dtype=object) for name in differentiable}
            for u, pixels in enumerate(units):
                if not pixels:
                    continue
                ev = evaluator(expr, C - first, len(pixels), C)
                unit_fields = self._gather(fields | image_fields, pixels)
                by_key = {key: (pos, w) for uu, key, pos, w in entries if uu == u}
                seeds = [seed(u, key, *by_key[key]) for key in ev.keys]
                values, d = ev.gradient(unit_fields, params, seeds)
                for key, value in values.items():
                    out[by_key[key][0]] = float(value)
                to_logits(d, pixels)
                for name in differentiable:  # the loss's gradient with respect to each neighbourhood primitive
                    for col, (b, j) in enumerate(pixels):
                        for k, row in enumerate(d[name]):
                            adjoints[name][b, k, j] += row[col]
            for name, prim in extract(expr)[1]:
                if name in adjoints:  # ... through the primitive and its arguments, image by image
                    for b in range(N):
                        d = self._through_image_primitive(prim, fields, params, C - first, spatial, C,
                                                          valid[b], b, adjoints[name][b])
                        to_logits(d, [(b, j) for j in range(P)])
        grad = grad.reshape(logit.shape)
        if options.reduction == "none":
            return out.reshape(out_shape + (list(spatial) if self.per_pixel else [])), grad
        if options.reduction == "sum":
            return float(np.sum(out)), grad
        if unit_mean:
            return sum(out[pos] / (unit_weight[u] * counted) for u, _, pos, _ in entries if unit_weight[u] > 0), grad
        return sum(out[pos] for _, _, pos, _ in entries) / total_weight, grad

    def _two_classes(self, logit, label, params, options, cotangent):
        """One channel read as the two classes [1 - p, p] (two_class_inputs)."""
        logit, label, options = two_class_inputs(logit, label, options)
        value, grad = self(logit, label, params, options, cotangent)
        return value, two_class_gradient(grad)

    @staticmethod
    def _gather(fields: dict, pixels) -> dict:
        """A unit's fields: (classes, n) arrays over its valid pixels."""
        bs, js = zip(*pixels)
        return {name: arr[list(bs), :, list(js)].T for name, arr in fields.items()}

    @staticmethod
    def _image_arguments(prim, fields, params, classes, spatial, all_classes, b):
        """A primitive's arguments on image b's full grid: field arguments (rows, *spatial), scalars as is."""
        image = {k: v[b] for k, v in fields.items()}
        P = fields["g"].shape[2]
        args = []
        for arg in prim.args:
            value = argument_array(evaluator(arg, classes, P, all_classes)(image, params), classes, P)
            args.append(value.reshape((value.shape[0],) + spatial) if isinstance(value, np.ndarray) else value)
        return args

    def _image_primitives(self, expr, fields, params, classes, spatial, all_classes, valid) -> dict:
        """Image-scope primitives on each image's full grid: ignored pixels (valid False) belong to neither
        side of a distance map's mask, and lie outside the image of a neighbourhood operator."""
        _, table = extract(expr)
        out = {}
        N, _, P = fields["g"].shape
        for name, prim in table:
            if prim.scope != "image":
                continue
            values = None
            for b in range(N):
                args = self._image_arguments(prim, fields, params, classes, spatial, all_classes, b)
                result = prim.reference(*args, valid=valid[b].reshape(spatial))
                values = np.empty((N, result.shape[0], P), dtype=object) if values is None else values
                values[b] = result.reshape(result.shape[0], P)
            out[name] = values
        return out

    def _through_image_primitive(self, prim, fields, params, classes, spatial, all_classes, valid, b, adjoint):
        """The gradient with respect to the fields of sum(adjoint * prim) on image b: the primitive's oracle
        evaluation rerun on recording numbers (its exact gradient), then its argument formulas' own gradients."""
        args = self._image_arguments(prim, fields, params, classes, spatial, all_classes, b)
        leaves = [np.vectorize(Node, otypes=[object])(a) if isinstance(a, np.ndarray) else a for a in args]
        out = prim.reference(*leaves, valid=valid.reshape(spatial))
        backward(list(out.reshape(-1)), list(adjoint.reshape(-1)))
        image = {k: v[b] for k, v in fields.items()}
        P = fields["g"].shape[2]
        total = None
        for arg, leaf in zip(prim.args, leaves):
            if not isinstance(leaf, np.ndarray):
                continue  # a parameter: no gradient
            cot = np.vectorize(lambda node: node.adjoint, otypes=[object])(leaf).reshape(leaf.shape[0], P)
            ev = evaluator(arg, classes, P, all_classes)
            seeds = [cot[key if len(key) == 2 else (0, key[0])] for key in ev.keys]
            _, d = ev.gradient(image, params, seeds)
            total = d if total is None else _add_gradients(total, d)
        return total

    def _position(self, unit, key, pixels, keep_batch):
        """Where an entry (keyed by its free-index values) lands in the output array."""
        names = [nm for nm, free in (("c", self.per_class), ("i", self.per_pixel)) if free]
        at = dict(zip(names, key))
        pos = []
        if self.per_pixel:
            b, j = pixels[at["i"]]
            pos.append(b)
        elif keep_batch:
            pos.append(unit)
        if self.per_class:
            pos.append(at["c"])
        if self.per_pixel:
            pos.append(j)
        return tuple(pos)

    @staticmethod
    def _target(label, logit_shape, ignore_index):
        """(g, valid): targets of every class (N, C, P) and a (N, P) mask of pixels that take part."""
        N, C = logit_shape[:2]
        if np.issubdtype(label.dtype, np.floating):
            g = label.reshape(N, C, -1).astype(np.float64)
            return g, np.ones((N, g.shape[2]), dtype=bool)
        lab = label.reshape(N, -1).astype(np.int64)
        valid = np.ones_like(lab, dtype=bool) if ignore_index is None else lab != ignore_index
        if C == 1:
            g = (lab == 1)[:, None, :].astype(np.float64)
        else:
            g = (lab[:, None, :] == np.arange(C)[None, :, None]).astype(np.float64)
        return g, valid


def _add_gradients(a: dict, b: dict) -> dict:
    """The sum of two {field: rows} gradients (a field missing from one counts as zero there)."""
    out = dict(a)
    for name, rows in b.items():
        out[name] = rows if name not in out else [[u + v for u, v in zip(r1, r2)] for r1, r2 in zip(out[name], rows)]
    return out

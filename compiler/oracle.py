"""The test oracle: a spec's literal formula, evaluated at 50 digits and differentiated exactly.

No rewrite, no shared statistic, no mask arithmetic: ignored pixels are simply left out of each
unit (an image, or the batch), the activation is written out (1/(1+e^-x), e^x/sum e^x), and
SymPy differentiates the result. Whatever the compiler did to the generated code, this is what it
must agree with.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import mpmath
import numpy as np
import sympy as sp

from .expand import concretize, field_symbol, parameters, resolve
from .tape import Tape
from .lower import granularity

DPS = 50


@dataclass
class Options:
    activation: str = "auto"
    ignore_index: int | None = 255
    include_background: bool = True
    batch: bool = False
    reduction: str = "mean"


class Activation:
    """Probabilities from one pixel's C logits, and their exact Jacobian, at 50 digits."""

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
        """(probabilities (C,), Jacobian (C, C) with [k, l] = dp_k / dx_l), as mpf."""
        out = self._fn(*logits)
        C = self.classes
        return out[:C], [out[C + k * C: C + (k + 1) * C] for k in range(C)]


@functools.lru_cache(maxsize=32)
def activation_function(activation: str, classes: int) -> Activation:
    return Activation(activation, classes)


class UnitFunction:
    """For one unit size: the entries, and the exact gradient of a weighted sum of entries with
    respect to every field entry (p and x), by reverse-mode differentiation at 50 digits."""

    def __init__(self, expr: sp.Expr, classes: int, pixels: int):
        entries = concretize(expr, classes, pixels)
        self.keys = list(entries)
        self.params = parameters(expr)
        self.p = [field_symbol("p", k, j) for k in range(classes) for j in range(pixels)]
        self.x = [field_symbol("x", k, j) for k in range(classes) for j in range(pixels)]
        g = [field_symbol("g", k, j) for k in range(classes) for j in range(pixels)]
        self.tape = Tape(list(entries.values()), self.p + self.x + g + list(self.params))

    def __call__(self, p, x, g, weights, params: dict):
        """Entries, d/dp and d/dx of sum(weights * entries); p, x, g are (classes, pixels) of mpf."""
        args = [v for row in p for v in row] + [v for row in x for v in row]
        args += [mpmath.mpf(float(v)) for row in g for v in row]
        args += [mpmath.mpf(float(params[s.name])) for s in self.params]
        vals = self.tape.forward(args)
        grad = self.tape.backward(vals, [mpmath.mpf(float(w)) for w in weights])
        size = len(self.p)
        values = dict(zip(self.keys, (vals[k] for k in self.tape.outputs)))
        return values, grad[:size], grad[size: 2 * size]


@functools.lru_cache(maxsize=256)
def unit_function(expr, classes, pixels) -> UnitFunction:
    return UnitFunction(expr, classes, pixels)


class Oracle:
    """The literal formula of one spec, over a whole batch, with the generated API's semantics."""

    def __init__(self, loss, registry: dict):
        self.loss = loss
        self.expr = resolve(loss.expr, registry)
        self.per_class, self.per_pixel = granularity(loss, registry)

    def __call__(self, logit: np.ndarray, label: np.ndarray, params: dict | None = None,
                 options: Options = Options(), cotangent: np.ndarray | None = None):
        """(loss, d loss / d logit) for `options.reduction`; for "none", the gradient is that of
        sum(cotangent * loss), with `cotangent` shaped like the loss (ones if not given)."""
        params = {p.name: float(p.default) for p in self.loss.params} | (params or {})
        N, C = logit.shape[:2]
        spatial = logit.shape[2:]
        x = logit.reshape(N, C, -1).astype(np.float64)
        P = x.shape[2]
        activation = options.activation
        if activation == "auto":
            activation = "sigmoid" if C == 1 else "softmax"
        first = 1 if (not options.include_background and C > 1) else 0
        g, valid = self._target(label, logit.shape, options.ignore_index, first)
        units = [[(b, j) for b in range(N) for j in range(P) if valid[b, j]]] if options.batch else \
            [[(b, j) for j in range(P) if valid[b, j]] for b in range(N)]

        keep_batch = self.per_pixel or not options.batch
        out_shape = ([N] if keep_batch else []) + ([C - first] if self.per_class else [])
        out = np.zeros(out_shape + ([P] if self.per_pixel else []))
        entry_index = {}  # (unit, key) -> index into `out`
        for u, pixels in enumerate(units):
            if not pixels:
                continue
            fn = unit_function(self.expr, C - first, len(pixels))
            for key in fn.keys:
                entry_index[(u, key)] = self._position(u, key, pixels, keep_batch)
        count = max(len(entry_index), 1)

        def weight(u, key):
            if options.reduction == "mean":
                return 1.0 / count
            if options.reduction == "sum" or cotangent is None:
                return 1.0
            return float(cotangent.reshape(out.shape)[entry_index[(u, key)]])

        grad = np.zeros_like(x)
        act = activation_function(activation, C)
        with mpmath.workdps(DPS):
            for u, pixels in enumerate(units):
                if not pixels:
                    continue
                fn = unit_function(self.expr, C - first, len(pixels))
                probs, jacobians = zip(*(act([mpmath.mpf(float(v)) for v in x[b, :, j]]) for b, j in pixels))
                pu = [[probs[col][k + first] for col in range(len(pixels))] for k in range(C - first)]
                xu = [[mpmath.mpf(float(x[b, k + first, j])) for b, j in pixels] for k in range(C - first)]
                gu = [[g[b, k, j] for b, j in pixels] for k in range(C - first)]
                values, d_p, d_x = fn(pu, xu, gu, [weight(u, key) for key in fn.keys], params)
                for key, value in values.items():
                    out[entry_index[(u, key)]] = float(value)
                n = len(pixels)
                for col, (b, j) in enumerate(pixels):
                    for l in range(C):  # chain rule through the activation: sum_k dL/dp_k dp_k/dx_l
                        total = sum(d_p[k * n + col] * jacobians[col][k + first][l] for k in range(C - first))
                        if l >= first:
                            total += d_x[(l - first) * n + col]
                        grad[b, l, j] += float(total)
        grad = grad.reshape(logit.shape)
        if options.reduction == "none":
            shaped = out.reshape(out_shape + (list(spatial) if self.per_pixel else []))
            return shaped, grad
        total = float(np.sum(out))
        return (total / count if options.reduction == "mean" else total), grad

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
    def _target(label, logit_shape, ignore_index, first):
        """(g, valid): targets (N, C - first, P) and a (N, P) mask of pixels that take part."""
        N, C = logit_shape[:2]
        if np.issubdtype(label.dtype, np.floating):
            g = label.reshape(N, C, -1).astype(np.float64)
            return g[:, first:], np.ones((N, g.shape[2]), dtype=bool)
        lab = label.reshape(N, -1).astype(np.int64)
        valid = np.ones_like(lab, dtype=bool) if ignore_index is None else lab != ignore_index
        if C == 1:
            g = (lab == 1)[:, None, :].astype(np.float64)
        else:
            g = (lab[:, None, :] == np.arange(C)[None, :, None]).astype(np.float64)
        return g[:, first:], valid

"""The oracle for large images: the literal formula at 100 digits, computed once per distinct value.

`Oracle` unrolls a spec over every pixel: exact, but its cost grows with the image, and a 512x512
image is out of its reach. Here every array of the formula (fields, intermediate terms, adjoints)
is held as codes into a table of its distinct values, and each operation is evaluated at 100 digits
(mpmath) once per distinct combination of its arguments' values. A sum over pixels is a sum over
distinct values weighted by how many pixels hold each (exact integers). Nothing is rounded on the
way: the value and the gradient are the literal formula's, to 100 digits, however large the image;
the cost follows the number of distinct values, so an image whose pixels repeat a few values (the
accuracy corpus) costs little, and one whose pixels all differ is still exact, only slower.

Pixels with equal inputs in a unit are first merged into *kinds* (the logits of their C classes,
their targets, their primitive values), so arrays run over kinds, each weighted by its pixel count.
Primitives are computed as `Oracle` computes them (distance maps on each image's full grid from
the float64 values of their arguments; Lovász weights from the unit's errors at 100 digits) and
become fields that split kinds further.
"""
from __future__ import annotations

from dataclasses import dataclass

import mpmath
import numpy as np
import sympy as sp

from ..frontend.expand import granularity, resolve
from ..frontend.functions import literal
from ..frontend.language import C, C_all, CLASS_SETS, Pick, c, choose, i, n
from ..frontend.primitives import extract
from .evaluate import DPS
from .oracle import Options, Oracle, two_class_gradient, two_class_inputs
from .tape import ONE, UNARY, ZERO, indicator

TO_FLOAT = np.frompyfunc(float, 1, 1)
MPF = np.frompyfunc(mpmath.mpf, 1, 1)


def floats(a) -> np.ndarray:
    """An array of mpf as float64."""
    a = np.asarray(a, dtype=object)
    return np.asarray(TO_FLOAT(a), dtype=np.float64) if a.size else np.zeros(a.shape)


def _unique(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sorted distinct keys, the position of each key among them); keys are non-negative integers."""
    flat = keys.reshape(-1)
    top = int(flat.max()) + 1 if flat.size else 0
    if top <= max(4 * flat.size, 1 << 20):  # a dense table beats sorting
        present = np.zeros(top, dtype=bool)
        present[flat] = True
        distinct = np.flatnonzero(present)
        position = np.zeros(top, dtype=np.int64)
        position[distinct] = np.arange(distinct.size)
        return distinct, position[flat].reshape(keys.shape)
    distinct, inverse = np.unique(flat, return_inverse=True)
    return distinct, inverse.reshape(keys.shape)


def _guarded(function):
    """`function` elementwise on object arrays, nan where mpmath raises (as the tape does)."""

    def safe(*args):
        try:
            return function(*args)
        except (ZeroDivisionError, ValueError):
            return mpmath.nan

    return safe


class Values:
    """A (classes, kinds) array of mpf as int codes into a table of values; an axis of length 1 means
    the value does not depend on the class (or the pixel)."""

    __slots__ = ("codes", "table")

    def __init__(self, codes: np.ndarray, table: np.ndarray):
        self.codes, self.table = codes, table

    @property
    def shape(self) -> tuple:
        return self.codes.shape

    @classmethod
    def scalar(cls, value) -> "Values":
        return cls(np.zeros((1, 1), dtype=np.int64), np.array([mpmath.mpf(value)], dtype=object))

    @classmethod
    def of_floats(cls, array: np.ndarray, exact: np.ndarray | None = None) -> "Values":
        """Intern a float64 array (classes, kinds); `exact` holds the mpf values where they are finer."""
        distinct, codes = np.unique(array.reshape(-1), return_inverse=True)
        if exact is None:
            table = MPF(distinct.astype(object))
        else:
            first = np.zeros(distinct.size, dtype=np.int64)
            first[codes[::-1]] = np.arange(codes.size)[::-1]  # the first element holding each value
            table = exact.reshape(-1)[first]
        return cls(codes.reshape(array.shape).astype(np.int64), np.asarray(table, dtype=object).reshape(-1))

    def rows(self, start: int = 0, stop: int | None = None) -> "Values":
        return Values(self.codes[start:stop], self.table)

    def kinds(self, local: np.ndarray) -> "Values":
        return self if self.shape[1] == 1 else Values(self.codes[:, local], self.table)

    def dense(self) -> np.ndarray:
        return self.table[self.codes]


def combine(function, *args: Values) -> Values:
    """`function` of the arguments' values, elementwise with broadcasting, evaluated once per distinct
    combination of argument values."""
    shape = np.broadcast_shapes(*(a.shape for a in args))
    codes = np.zeros(shape, dtype=np.int64)
    picked = np.zeros((1, 0), dtype=np.int64)  # per distinct combination so far: each argument's code
    for a in args:
        size = len(a.table)
        distinct, codes = _unique(codes * size + np.broadcast_to(a.codes, shape))
        picked = np.column_stack([picked[distinct // size], distinct % size])
    ufunc = function if isinstance(function, np.ufunc) else np.frompyfunc(_guarded(function), len(args), 1)
    values = np.asarray(ufunc(*(a.table[picked[:, k]] for k, a in enumerate(args))), dtype=object).reshape(-1)
    return _merged(codes, values)


def _merged(codes: np.ndarray, table: np.ndarray) -> Values:
    """Values whose equal table entries share one code (0 * anything, 1 - 1, ...), so that later
    operations see fewer distinct combinations."""
    if len(table) < 2:
        return Values(codes, table)
    position: dict = {}
    remap = np.fromiter((position.setdefault(getattr(v, "_mpf_", v), len(position)) for v in table),
                        dtype=np.int64, count=len(table))  # an mpf's normalised (sign, man, exp, bc) tuple
    if len(position) == len(table):
        return Values(codes, table)
    merged = np.empty(len(position), dtype=object)
    merged[remap] = table
    return Values(remap[codes], merged)


def _fold(operation, args) -> Values:
    """A sum or product of several arrays, as a chain of binary operations (each exact to 100 digits)."""
    args = list(args)
    out = args[0]
    for a in args[1:]:
        out = combine(operation, out, a)
    return out


def add(*args: Values) -> Values:
    return _fold(np.add, args)


def mul(*args: Values) -> Values:
    return _fold(np.multiply, args)


def scale(v: Values, factor) -> Values:
    factor = mpmath.mpf(factor)
    return Values(v.codes, np.asarray([t * factor for t in v.table], dtype=object))


def sum_kinds(v: Values, counts: np.ndarray) -> Values:
    """The sum over pixels: over kinds, each value weighted by the pixels that hold it."""
    if v.shape[1] == 1:
        return scale(v, int(counts.sum()))
    rows = []
    for r in range(v.shape[0]):
        weight = np.bincount(v.codes[r], weights=counts, minlength=len(v.table)).astype(np.int64)  # exact
        groups = {}  # pixel count -> the values held by that many pixels
        for w in np.unique(weight[weight > 0]):
            groups[int(w)] = mpmath.fsum(v.table[weight == w])
        rows.append(mpmath.fsum(total * w for w, total in groups.items()))
    return Values(np.arange(v.shape[0], dtype=np.int64).reshape(-1, 1), np.asarray(rows, dtype=object))


def sum_classes(v: Values, classes: int) -> Values:
    """The sum over classes, per kind."""
    if v.shape[0] == 1:
        return scale(v, classes)
    return add(*(v.rows(r, r + 1) for r in range(v.shape[0])))


def fold_to(v: Values, shape: tuple, counts: np.ndarray) -> Values:
    """An adjoint folded onto a node's shape: summed over the axes the node broadcast along (over
    kinds, weighted by their pixel counts)."""
    if shape[1] == 1 and v.shape[1] != 1:
        v = sum_kinds(v, counts)
    if shape[0] == 1 and v.shape[0] != 1:
        v = add(*(v.rows(r, r + 1) for r in range(v.shape[0])))
    return v


def _power(b, e):
    return b ** e


def _d_base(d, b, e):
    if d == 0:  # no adjoint reaches it: 0, also where the derivative is infinite (as the tape takes it)
        return ZERO
    try:
        return d * e * b ** (e - 1)
    except ZeroDivisionError:
        return d * e * mpmath.inf


def _d_exponent(d, b, v):
    return d * mpmath.log(b) * v if b > 0 else ZERO


class Graph:
    """The DAG of one formula, nodes in topological order (as the tape records it)."""

    def __init__(self, expr: sp.Expr):
        self.index: dict = {}
        self.nodes: list = []  # (kind, payload, argument indices)
        self.root = self._record(literal(expr))

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
            leaf = self._leaf(node)
            if leaf is not None:
                self._add(node, leaf)
                continue
            children = (node.function,) if isinstance(node, sp.Sum) else node.args
            if not expanded:
                stack.append((node, True))
                stack.extend((a, False) for a in children if a not in self.index)
                continue
            self._add(node, self._operation(node, tuple(self.index[a] for a in children)))
        return self.index[root]

    @staticmethod
    def _leaf(node):
        if node.is_Number or node.is_NumberSymbol:
            return ("const", mpmath.mpf(sp.Float(node, DPS + 10)), ())
        if node == n:
            return ("count", None, ())
        if node == C:
            return ("classes", None, ())
        if node == C_all:
            return ("all_classes", None, ())
        if isinstance(node, sp.Indexed):
            ix = node.indices
            if len(ix) == 1 and ix[0] == c:
                return ("weight", node.base.name, ())
            if len(ix) == 2 and ix[1] == i and (ix[0] == c or ix[0].is_Integer):
                return ("field", (str(node.base.label), None if ix[0] == c else int(ix[0])), ())
            raise ValueError(f"the pooled oracle reads fields as f[c, i] or f[k, i] and weights as w[c], not {node}")
        if node.is_Symbol:
            return ("param", node.name, ())
        return None

    @staticmethod
    def _operation(node, args):
        if isinstance(node, sp.Sum):
            every = _reads_every_class(node.function)
            axes = []
            for var, _, _ in node.limits:  # the first limit is innermost
                if var not in (c, i):
                    raise ValueError(f"the pooled oracle sums over c or i, not {var}")
                axes.append(1 if var == i else "every" if every else 0)
            return ("sum", tuple(axes), args)
        for kind, types in (("add", sp.Add), ("mul", sp.Mul), ("pow", sp.Pow), ("max", sp.Max), ("min", sp.Min)):
            if isinstance(node, types):
                return (kind, None, args)
        if node.func in UNARY:
            return ("unary", node.func, args)
        raise ValueError(f"the pooled oracle cannot evaluate {node.func.__name__}: add it to tape.UNARY")


def _reads_every_class(expr) -> bool:
    """Whether a summand reads the fields over every class (an AllClasses term: p_all, w_all, C_all)."""
    return expr.has(C_all) or any(
        getattr(getattr(a, "base", None), "name", "").endswith("_all") for a in expr.atoms(sp.Indexed))


class Unit:
    """One unit's kinds: fields as Values over its kinds, each kind's pixel count, its parameters."""

    def __init__(self, fields: dict, counts: np.ndarray, classes: int, weights: dict, params: dict,
                 all_classes: int | None = None):
        self.fields, self.counts, self.classes = fields, counts, classes
        self.all_classes = all_classes or classes
        self.weights, self.params = weights, params
        self.n = int(counts.sum())

    def length(self, axis) -> int:
        """How many terms a sum along `axis` adds: pixels (1), classes in scope (0), every class."""
        return self.n if axis == 1 else self.classes if axis == 0 else self.all_classes


def forward(graph: Graph, unit: Unit) -> list:
    """Every node's value on one unit."""
    vals: list = []
    for kind, payload, args in graph.nodes:
        a = [vals[j] for j in args]
        if kind == "const":
            v = Values.scalar(payload)
        elif kind == "count":
            v = Values.scalar(unit.n)
        elif kind == "classes":
            v = Values.scalar(unit.classes)
        elif kind == "all_classes":
            v = Values.scalar(unit.all_classes)
        elif kind == "param":
            if unit.params.get(payload) is None:
                raise ValueError(f"no value given for {payload}")
            v = Values.scalar(unit.params[payload])
        elif kind == "weight":
            v = unit.weights[payload]
        elif kind == "field":
            name, row = payload
            v = unit.fields[name] if row is None else unit.fields[name].rows(row, row + 1)
        elif kind == "sum":
            v = a[0]
            for axis in payload:
                v = sum_kinds(v, unit.counts) if axis == 1 else sum_classes(v, unit.length(axis))
        elif kind == "add":
            v = add(*a)
        elif kind == "mul":
            v = mul(*a)
        elif kind == "pow":
            v = combine(_power, *a)
        elif kind == "max":
            v = combine(lambda *t: max(t), *a)
        elif kind == "min":
            v = combine(lambda *t: min(t), *a)
        else:
            v = combine(indicator if payload.__name__ == "Indicator" else UNARY[payload][0], a[0])
        vals.append(v)
    return vals


def backward(graph: Graph, unit: Unit, vals: list, seed: Values) -> dict:
    """Adjoints of the fields {(name, row): Values}, the root seeded with `seed` (per entry: per pixel
    of a kind where the root varies over pixels)."""
    adj: list = [None] * len(graph.nodes)
    adj[graph.root] = seed
    fields: dict = {}

    def give(j, contribution: Values):
        contribution = fold_to(contribution, vals[j].shape, unit.counts)
        adj[j] = contribution if adj[j] is None else add(adj[j], contribution)

    for k in range(len(graph.nodes) - 1, -1, -1):
        d = adj[k]
        if d is None:
            continue
        kind, payload, args = graph.nodes[k]
        a = [vals[j] for j in args]
        if kind == "field":
            fields[payload] = d if payload not in fields else add(fields[payload], d)
        elif kind == "sum":
            for axis in payload:  # a summand constant along a summed axis was multiplied by its length
                if a[0].shape[1 if axis == 1 else 0] == 1:
                    d = scale(d, unit.length(axis))
            give(args[0], d)
        elif kind == "add":
            for j in args:
                give(j, d)
        elif kind == "mul":
            for pos, j in enumerate(args):
                give(j, mul(d, *(vals[o] for q, o in enumerate(args) if q != pos)))
        elif kind == "pow":
            base, exponent = args
            give(base, combine(_d_base, d, vals[base], vals[exponent]))
            if graph.nodes[exponent][0] not in ("const", "param"):
                give(exponent, combine(_d_exponent, d, vals[base], vals[k]))
        elif kind in ("max", "min"):
            for pos, j in enumerate(args):  # the first argument equal to the result takes the adjoint
                def share(dv, v, *t, pos=pos):
                    return dv if t[pos] == v and all(t[q] != v for q in range(pos)) else ZERO

                give(j, combine(share, d, vals[k], *a))
        elif kind == "unary":
            derivative = UNARY[payload][1]

            def chain(dv, x, v, derivative=derivative):
                if dv == 0:  # as _d_base
                    return ZERO
                try:
                    return dv * derivative(x, v)
                except ZeroDivisionError:  # e.g. log at 0: the derivative is infinite
                    return dv * mpmath.inf

            give(args[0], combine(chain, d, a[0], vals[k]))
    return fields, adj


EXACT_FIELDS = ("g", "x", "g_all", "x_all")  # inputs, exact in float32: never rounded


def rounding_bound(graph: Graph, vals: list, adj: list, counts: np.ndarray) -> float:
    """sum over the formula's operations (and its inexact leaves) of |v dL/dv|, each summed over the
    pixels it is computed at: rounding each of them by a relative u moves the loss by at most u times
    this (first order). It is the literal formula's own error amplification in float32."""
    total = 0.0
    for (kind, payload, _), v, d in zip(graph.nodes, vals, adj):
        if d is None or kind in ("count", "classes", "all_classes") or (kind == "field" and payload[0] in EXACT_FIELDS):
            continue
        if kind in ("const", "param", "weight") and all(float(np.float32(float(t))) == float(t) for t in v.table):
            continue
        product = mul(v, d)
        weight = np.broadcast_to(counts if product.shape[1] > 1 else np.ones(1), product.shape)
        held = np.bincount(product.codes.reshape(-1), weights=weight.reshape(-1), minlength=len(product.table))
        total += float(np.sum(np.abs(floats(product.table)) * held))  # each distinct |v dL/dv| once
    return total


class Kinds:
    """Pixels merged by equal inputs over a batch: `ids` (N*P,) gives each pixel's kind; `fields` are
    Values over all kinds (classes, K); the activation is kept per kind for the chain rule."""

    def __init__(self, x: np.ndarray, g: np.ndarray, activation: str, first: int):
        """`g`: the targets of every class (N, C, P); classes before `first` are out of scope."""
        N, Cfull, P = x.shape
        self.first, self.activation = first, activation
        flat_x = x.transpose(0, 2, 1).reshape(N * P, Cfull)
        flat_g = g.transpose(0, 2, 1).reshape(N * P, -1)
        base = _row_ids([flat_x[:, k] for k in range(Cfull)])
        base_rep = _representatives(base)
        self.ids = _row_ids([base] + [flat_g[:, k] for k in range(flat_g.shape[1])])
        rep = _representatives(self.ids)
        self.base = base[rep]  # each kind's logit vector, as an index into the activation tables
        self._activation(flat_x[base_rep].T)
        self.unresolved = 0
        self._by_class_all = np.arange(Cfull)
        self.fields = {
            "x": Values(self._by_class(np.arange(Cfull)[first:]), self._x),
            "p": Values(self._by_class(np.arange(Cfull)[first:]), self._p),
            "g": Values.of_floats(np.ascontiguousarray(flat_g[rep][:, first:].T)),
            "x_all": Values(self._by_class(np.arange(Cfull)), self._x),
            "p_all": Values(self._by_class(np.arange(Cfull)), self._p),
            "g_all": Values.of_floats(np.ascontiguousarray(flat_g[rep].T)),
        }

    def _activation(self, x: np.ndarray):
        """Tables (C * distinct logit vectors) of x, p and 1 - p, written out at 100 digits."""
        xs = MPF(x.astype(object))
        if self.activation == "sigmoid":
            e = np.frompyfunc(mpmath.exp, 1, 1)(-xs)
            p, q = 1 / (1 + e), e / (1 + e)
        elif self.activation == "softmax":
            shift = MPF(np.max(x, axis=0, keepdims=True).astype(object))  # exact in the ratio; keeps powers small
            e = np.frompyfunc(mpmath.exp, 1, 1)(xs - shift)
            total = np.sum(e, axis=0, keepdims=True)
            p, q = e / total, (total - e) / total
        else:
            p, q = xs, 1 - xs
        self._x, self._p, self._q = (np.asarray(t, dtype=object).reshape(-1) for t in (xs, p, q))
        self._distinct = x.shape[1]

    def _by_class(self, classes: np.ndarray) -> np.ndarray:
        """Codes into an activation table: row k of kind j is class classes[k] of its logit vector."""
        return classes[:, None] * self._distinct + self.base[None, :]

    def refine(self, column: np.ndarray, name: str, exact: np.ndarray | None = None):
        """Add a per-pixel field (N*P, classes) of float64 values (`exact`: the same as mpf where finer)
        and split kinds by it."""
        ids = _row_ids([self.ids] + [column[:, k] for k in range(column.shape[1])])
        rep = _representatives(ids)
        old = self.ids[rep]
        self.fields = {k: v.kinds(old) for k, v in self.fields.items()}
        self.base = self.base[old]
        self.ids = ids
        self.fields[name] = Values.of_floats(np.ascontiguousarray(column[rep].T),
                                             None if exact is None else np.ascontiguousarray(exact[rep].T))

    def local(self, pixels: np.ndarray):
        """(kinds of the unit, each pixel's position among them, their pixel counts)."""
        return np.unique(self.ids[pixels], return_inverse=True, return_counts=True)

    def at_pixels(self, expr: sp.Expr, params: dict, classes: int) -> Values:
        """A pixel-level expression (a primitive's argument) at every pixel: codes (N*P, classes)."""
        if any(i in {var for var, *_ in s.limits} for s in expr.atoms(sp.Sum)):
            raise ValueError(f"the pooled oracle evaluates primitive arguments without sums over pixels, not {expr}")
        graph = Graph(expr)
        K = len(self.base)
        unit = Unit(self.fields, np.ones(K, dtype=np.int64), classes, {}, params, len(self._by_class_all))
        v = forward(graph, unit)[graph.root]
        return Values(np.broadcast_to(v.codes, (classes, K)).T[self.ids], v.table)

    @staticmethod
    def number(expr: sp.Expr, params: dict):
        """A primitive's number argument (a parameter, a constant) at 100 digits."""
        graph = Graph(expr)
        return forward(graph, Unit({}, np.ones(1, dtype=np.int64), 1, {}, params))[graph.root].table[0]

    @staticmethod
    def field_adjoint(adjoints: dict, name: str, classes: int) -> list:
        """The adjoint of field `name` per class (a Values row each), summing every read of it."""
        rows = [Values.scalar(0) for _ in range(classes)]
        for (f, row), d in adjoints.items():
            if f != name:
                continue
            for r in range(classes) if row is None else [row]:
                rows[r] = add(rows[r], d.rows(r, r + 1) if row is None and d.shape[0] > 1 else d)
        return rows

    def logit_gradient(self, adjoints: dict, local: np.ndarray, classes: int) -> np.ndarray:
        """d loss / d logit of each of the unit's kinds, (C, kinds) float64: the chain rule through the
        activation, p_l (dp_l - sum_k dp_k p_k) for a softmax, dp_l p_l (1 - p_l) for a sigmoid."""
        K = len(local)
        base = self.base[local]

        def of(table, l):
            return Values((l * self._distinct + base)[None, :], table)

        every = classes + self.first
        zeros = [Values.scalar(0)] * self.first
        dp = [add(a, b) for a, b in zip(zeros + self.field_adjoint(adjoints, "p", classes),
                                        self.field_adjoint(adjoints, "p_all", every))]
        dx = [add(a, b) for a, b in zip(zeros + self.field_adjoint(adjoints, "x", classes),
                                        self.field_adjoint(adjoints, "x_all", every))]
        if self.activation == "softmax":
            s = add(*(mul(dp[r], of(self._p, r)) for r in range(every)))
        out = []
        for l in range(every):
            if self.activation == "softmax":
                grad = combine(lambda pl, dl, sv: pl * (dl - sv), of(self._p, l), dp[l], s)
            elif self.activation == "sigmoid":
                grad = mul(dp[l], of(self._p, l), of(self._q, l))
            else:
                grad = dp[l]
            grad = add(grad, dx[l])
            out.append(floats(np.broadcast_to(grad.dense(), (1, K)))[0])
        return np.stack(out)


CLOSE = 8 * 2.0**-24  # sort keys closer than 8 float32 ulps: float32 may order them either way


def _close_keys(keys: Values, kind_of: np.ndarray, pixels: np.ndarray) -> int:
    """In one unit, the pairs of neighbouring sort keys (per class) that belong to different kinds of
    pixel and are equal or closer than CLOSE: float32 can order their pixels either way."""
    found = 0
    for k in range(keys.shape[1]):
        codes = keys.codes[pixels, k]
        pairs = np.unique(np.stack([codes, kind_of]), axis=1)  # (code, kind) present in the unit
        values = floats(keys.table[pairs[0]])
        order = np.argsort(values, kind="stable")
        v, kind = values[order], pairs[1][order]
        gap = np.abs(np.diff(v)) <= CLOSE * np.maximum(np.abs(v[1:]), np.abs(v[:-1]))
        found += int(np.sum(gap & (kind[1:] != kind[:-1])))
    return found


def _row_ids(columns: list) -> np.ndarray:
    """One integer per row of the columns: equal rows, equal ids."""
    ids = np.zeros(columns[0].shape[0], dtype=np.int64)
    for col in columns:
        _, col_ids = np.unique(col, return_inverse=True)
        _, ids = _unique(ids * (int(col_ids.max(initial=0)) + 1) + col_ids.reshape(-1))
    return ids


def _representatives(ids: np.ndarray) -> np.ndarray:
    """For each id 0, 1, ..., the first position holding it."""
    first = np.zeros(int(ids.max(initial=-1)) + 1, dtype=np.int64)
    first[ids[::-1]] = np.arange(ids.size)[::-1]
    return first


@dataclass
class Exact:
    """The oracle's answer: value and gradient rounded once to float64; `groups` (N, *spatial) for a
    loss that sorts: pixels of one unit with equal inputs share an id (-1 where ignored), and only the
    mean of the gradient over each group is defined (a sort may leave tied pixels in any order, and
    each order gives its own valid subgradient); `gradient` holds those means."""

    value: float
    gradient: np.ndarray
    groups: np.ndarray | None = None
    # Pixels of different kinds whose sort keys float32 cannot tell apart (closer than a few ulps):
    # their order, and so the gradient, is not determined by float32 inputs.
    unresolved_ties: int = 0
    # The literal formula's first-order rounding-error coefficient (see rounding_bound): evaluated in
    # float32 with each operation rounded once, its error is at most u times this, over |value|.
    rounding_bound: float = 0.0


class PooledOracle:
    """The literal formula of one spec over a batch, reduction "mean" or "sum", with the generated
    API's semantics (as `Oracle`); values and gradients exact to 100 digits, rounded once to float64."""

    def __init__(self, loss, registry: dict):
        self.loss = loss
        self.expr = resolve(loss.expr, registry)
        self.mean_denominator = resolve(loss.mean_denominator, registry) if loss.mean_denominator is not None else None
        self.per_class, self.per_pixel = granularity(loss, registry)

    @staticmethod
    def limitation(loss, registry: dict) -> str:
        """Why the pooled oracle cannot evaluate `loss` ("" if it can): a gradient through a neighbourhood
        operator needs every pixel's own adjoint on the image grid, which pooling by kinds does not keep."""
        expr = resolve(loss.expr, registry)
        for _, prim in extract(expr)[1]:
            if prim.differentiable:
                return f"its gradient flows through {type(prim).__name__}, a neighbourhood operator"
        return ""

    def __call__(self, logit: np.ndarray, label: np.ndarray, params: dict | None = None,
                 options: Options | None = None) -> tuple[float, np.ndarray]:
        """(loss, d loss / d logit)."""
        exact = self.evaluate(logit, label, params, options)
        return exact.value, exact.gradient

    def evaluate(self, logit: np.ndarray, label: np.ndarray, params: dict | None = None,
                 options: Options | None = None) -> "Exact":
        """The loss and its gradient, and (for a loss that sorts) the groups of pixels whose gradients
        only their mean is defined for. Without `options`, the generated function's defaults."""
        options = Options.for_loss(self.loss) if options is None else options
        if self.loss.binary_as_two_classes and logit.shape[1] == 1:
            return self._two_classes(logit, label, params, options)
        if options.reduction not in ("mean", "sum"):
            raise ValueError(f"reduction got {options.reduction!r}; the pooled oracle computes 'mean' or 'sum'")
        params = {p.name: (None if p.default is None else p.default if isinstance(p.default, str)
                           else float(p.default)) for p in self.loss.params} | (params or {})
        expr, denominator = choose(self.expr, params), choose(self.mean_denominator, params)
        if expr.has(Pick):
            raise ValueError("a Choice parameter has no value")
        N, Cfull = logit.shape[:2]
        spatial = tuple(logit.shape[2:])
        x = logit.reshape(N, Cfull, -1).astype(np.float64)
        P = x.shape[2]
        activation = options.activation
        if activation == "auto":
            activation = "sigmoid" if Cfull == 1 else "softmax"
        first = 1 if (not options.include_background and Cfull > 1) else 0
        classes = Cfull - first
        g, valid = Oracle._target(label, logit.shape, options.ignore_index)  # every class
        weights = {}
        for w in self.loss.weights:  # w[c] over the classes in scope, w_all[c] over every class
            vector = params.get(w.name)
            for name, start in ((w.name, first), (f"{w.name}_all", 0)):
                values = [1.0] * (Cfull - start) if vector is None else [float(v) for v in list(vector)[start:]]
                weights[name] = Values(np.arange(len(values), dtype=np.int64).reshape(-1, 1),
                                       MPF(np.array(values, dtype=object)))
        for name in CLASS_SETS:  # background[c]: 1 at class 0 (out of scope with include_background=False)
            every = [1.0 if (k == 0) == (name == "background") else 0.0 for k in range(Cfull)]
            for key, values in ((name, every[first:]), (f"{name}_all", every)):
                weights[key] = Values(np.arange(len(values), dtype=np.int64).reshape(-1, 1),
                                      MPF(np.array(values, dtype=object)))

        with mpmath.workdps(DPS):
            body, table = extract(expr)
            for _, prim in table:
                if prim.differentiable:
                    raise ValueError(f"the pooled oracle takes no gradient through {type(prim).__name__} "
                                     "(a neighbourhood operator): use the unrolled Oracle")
            graph = Graph(body)
            den_graph = None
            if denominator is not None:
                den_body, den_table = extract(denominator)
                if den_table:
                    raise ValueError("the pooled oracle takes a mean denominator without primitives")
                den_graph = Graph(den_body)
            kinds = Kinds(x, g, activation, first)
            units = [np.flatnonzero(valid.reshape(-1))] if options.batch else \
                [b * P + np.flatnonzero(valid[b]) for b in range(N)]
            units = [u for u in units if u.size]
            for name, prim in table:  # primitives become fields that split kinds further
                self._primitive(kinds, name, prim, params, classes, spatial, units, valid)

            evaluated = []
            for pixels in units:
                local, inverse, counts = kinds.local(pixels)
                unit = Unit({k: v.kinds(local) for k, v in kinds.fields.items()}, counts, classes, weights, params,
                            Cfull)
                vals = forward(graph, unit)
                total = self._entries_total(vals[graph.root], unit)
                weight = (self._entries_total(forward(den_graph, unit)[den_graph.root], unit)
                          if den_graph is not None else self._entries_total(Values.scalar(1), unit))
                evaluated.append((pixels, local, inverse, unit, vals, total, weight))
            # reduction="mean": the sum of the entries over the sum of their weights; a loss per unit (or
            # class) with a mean_denominator is averaged within each unit, then over the units that weigh.
            unit_mean = den_graph is not None and not self.per_pixel
            weighed = [w for *_, w in evaluated if w > 0]
            if options.reduction == "sum":
                factors = [ONE] * len(evaluated)
            elif unit_mean:
                factors = [1 / (w * len(weighed)) if w > 0 else ZERO for *_, w in evaluated]
            else:
                total_weight = mpmath.fsum(w for *_, w in evaluated)
                factors = [1 / total_weight if total_weight else ONE] * len(evaluated)
            value = mpmath.fsum(t * f for (*_, t, _), f in zip(evaluated, factors))

            grad = np.zeros((N * P, Cfull))
            groups = np.full(N * P, -1, dtype=np.int64)  # ignored pixels: no group
            sensitivity = []
            for u, (pixels, local, inverse, unit, vals, _, _) in enumerate(evaluated):
                adjoints, nodes = backward(graph, unit, vals, self._seed(vals[graph.root], unit, factors[u]))
                grad[pixels] = kinds.logit_gradient(adjoints, local, classes).T[inverse]
                groups[pixels] = u * (N * P) + local[inverse]
                sensitivity.append(rounding_bound(graph, vals, nodes, unit.counts))
        grad = grad.reshape(N, P, Cfull).transpose(0, 2, 1).reshape(logit.shape)
        tied = any(prim.ties for _, prim in table)
        return Exact(float(value), grad, groups.reshape((N,) + spatial) if tied else None, kinds.unresolved,
                     float(sum(sensitivity)))

    def _two_classes(self, logit, label, params, options) -> "Exact":
        """One channel read as the two classes [1 - p, p], as `Oracle` reads it (two_class_inputs)."""
        logit, label, options = two_class_inputs(logit, label, options)
        exact = self.evaluate(logit.astype(np.float64), label, params, options)
        exact.gradient = two_class_gradient(exact.gradient)
        return exact

    def _entries_total(self, v: Values, unit: Unit):
        """The sum of a unit's entries (one per class if per-class, per pixel if per-pixel) of `v`."""
        if self.per_pixel:
            v = sum_kinds(v, unit.counts)
        if self.per_class:
            v = sum_classes(v, unit.classes)
        return mpmath.fsum(v.dense().reshape(-1)) if v.shape == (1, 1) else None

    def _seed(self, root: Values, unit: Unit, factor) -> Values:
        """d objective / d root, per element of the root: `factor` per entry it stands for."""
        entries = 1
        if self.per_class and root.shape[0] == 1:
            entries *= unit.classes
        if self.per_pixel and root.shape[1] == 1:
            entries *= unit.n
        # the root's own shape: a term constant along an axis the root spans (a cross-entropy over every
        # class added to a per-class Dice) then folds the seeds of all the root's entries
        return Values(np.zeros(root.shape, dtype=np.int64), np.array([mpmath.mpf(factor * entries)], dtype=object))

    @staticmethod
    def _primitive(kinds: Kinds, name, prim, params, classes, spatial, units, valid):
        """Compute a primitive as `Oracle` does: a distance map on each image's full grid (its ignored
        pixels on neither side of a mask), the Lovász weights over each unit's valid pixels."""
        N, P = valid.shape
        width = len(prim.args) if prim.fields is None else prim.fields
        args = [kinds.at_pixels(a, params, classes) for a in prim.args[:width]]  # (N*P, classes) each
        numbers = [kinds.number(a, params) for a in prim.args[width:]]
        if prim.scope == "image":
            out = np.zeros((N * P, classes))
            as_floats = [floats(a.table)[a.codes] for a in args]
            for b in range(N):
                rows = slice(b * P, (b + 1) * P)
                images = [a[rows].T.reshape((classes,) + spatial) for a in as_floats]
                maps = prim.reference(*images, *numbers, valid=valid[b].reshape(spatial))
                out[rows] = np.asarray(maps, dtype=np.float64).reshape(classes, P).T
            kinds.refine(out, name)
            return
        exact = np.full((N * P, classes), ZERO, dtype=object)
        for pixels in units:
            if prim.ties:
                kinds.unresolved += _close_keys(args[0], kinds.ids[pixels], pixels)
            unit_args = [np.ascontiguousarray(a.table[a.codes[pixels]].T) for a in args] + numbers
            values = (prim.tied_reference(*unit_args, groups=kinds.local(pixels)[1]) if prim.ties
                      else prim.reference(*unit_args))  # tied: the mean over pixels of a kind, which stay one
            exact[pixels] = np.asarray(values, dtype=object).T
        kinds.refine(floats(exact), name, exact)

"""Numeric evaluation of a formula at a fixed size: values and exact gradients at 100 digits.

The checker and the test oracle both evaluate specs here. Primitives (distance maps, the Lovász
weights) become input fields whose values their references compute from the other fields.
"""
from __future__ import annotations

import functools

import mpmath
import numpy as np
import sympy as sp

from ..frontend.language import ALL_FIELDS, FIELDS, Pick, c
from ..frontend.errors import SpecError
from ..frontend.expand import WeightSymbol, concretize, field_symbol, parameters
from ..frontend.primitives import extract
from .tape import Tape

DPS = 100  # inputs may sit 1e-60 away from 0 or 1


class Evaluator:
    """Entries of a formula at `classes` classes (in scope) and `pixels` pixels.

    `all_classes` (default `classes`) is the number of every class: the rows of the *_all fields that
    AllClasses terms and class selections read. Classes in scope are the last `classes` of them.
    """

    def __init__(self, expr: sp.Expr, classes: int, pixels: int, all_classes: int | None = None):
        if expr.has(Pick):
            raise ValueError("choose() every Choice before evaluating")
        body, self.primitives = extract(expr)
        self.all_classes = all_classes or classes
        entries = concretize(body, classes, pixels, self.all_classes)
        self.classes, self.pixels = classes, pixels
        self.keys = list(entries)
        self.params = parameters(body)
        self.weights = sorted({s for e in entries.values() for s in e.free_symbols if isinstance(s, WeightSymbol)},
                              key=lambda s: s.name)
        used = {ind.base.name for ind in body.atoms(sp.Indexed)}
        wide = tuple(b.name for b in ALL_FIELDS.values() if b.name in used)
        self.rows = {name: classes for name in FIELDS} | {name: self.all_classes for name in wide}
        self.rows |= {name: classes if c in prim.free_symbols else 1 for name, prim in self.primitives}
        self.fields = [field_symbol(b, k, j) for b, rows in self.rows.items() for k in range(rows) for j in range(pixels)]
        self._where = [s.name.rsplit("_", 2) for s in self.fields]
        self.tape = Tape(list(entries.values()), self.fields + self.weights + self.params)

    def primitive_fields(self, fields: dict, params: dict) -> dict:
        """`fields` plus the value of every primitive it does not hold yet."""
        fields = dict(fields)
        for name, prim in self.primitives:
            if name in fields:
                continue
            arrays = [argument_array(evaluator(arg, self.classes, self.pixels, self.all_classes)(fields, params),
                                     self.classes, self.pixels) for arg in prim.args]
            fields[name] = prim.reference(*arrays)
        return fields

    @staticmethod
    def _class_weight(base: str, k: int, params: dict):
        """One class's weight: inside AllClasses terms (w_all) every class's, given as w_all or as w."""
        vector = params.get(base, params.get(base[: -len("_all")])) if base.endswith("_all") else params.get(base)
        return mpmath.mpf(1) if vector is None else mpmath.mpf(vector[k])

    def _arguments(self, fields: dict, params: dict) -> list:
        missing = [s.name for s in self.params if s.name not in params]
        if missing:
            raise SpecError(f"no value given for {', '.join(missing)}")
        fields = self.primitive_fields(fields, params)
        args = []
        for base, k, j in self._where:
            arr = fields.get(base)
            if arr is None and base.endswith("_all"):  # every class is in scope: the same fields
                arr = fields.get(base[: -len("_all")])
            args.append(mpmath.mpf(arr[int(k)][int(j)]) if arr is not None else mpmath.mpf(0))
        for s in self.weights:
            base, k = s.name.rsplit("_", 1)
            args.append(self._class_weight(base, int(k), params))
        args += [mpmath.mpf(params[s.name]) for s in self.params]
        return args

    def __call__(self, fields: dict, params: dict) -> dict:
        """Entries keyed by free-index values; `fields` maps 'p', 'g', 'x' to (classes, pixels) arrays
        (and 'p_all', 'g_all', 'x_all' to (all_classes, pixels) ones when they differ)."""
        with mpmath.workdps(DPS):
            vals = self.tape.forward(self._arguments(fields, params))
            return {key: +vals[k] for key, k in zip(self.keys, self.tape.outputs)}

    def gradient(self, fields: dict, params: dict, seeds) -> tuple[dict, dict]:
        """(entries, {"p": d/dp, "x": d/dx, "p_all": ..., ...}) of sum(seeds * entries): the gradient with
        respect to each field the formula reads, as (rows, pixels) lists."""
        with mpmath.workdps(DPS):
            vals = self.tape.forward(self._arguments(fields, params))
            adjoint = self.tape.backward(vals, [mpmath.mpf(s) for s in seeds])
            grads, start = {}, 0
            for name, rows in self.rows.items():
                flat = adjoint[start:start + rows * self.pixels]
                grads[name] = [flat[r * self.pixels:(r + 1) * self.pixels] for r in range(rows)]
                start += rows * self.pixels
            values = {key: +vals[k] for key, k in zip(self.keys, self.tape.outputs)}
        return values, grads


def argument_array(values: dict, classes: int, pixels: int):
    """A primitive's argument from its entries: (classes, pixels) for free c and i, (1, pixels) for
    per-pixel values with no class free, a number for a scalar (a parameter)."""
    keys = list(values)
    if keys == [()]:
        return values[()]
    rows = classes if len(keys[0]) == 2 else 1
    arr = np.empty((rows, pixels), dtype=object)
    for key, v in values.items():
        arr[key if len(key) == 2 else (0, key[0])] = v
    return arr


@functools.lru_cache(maxsize=512)
def evaluator(expr: sp.Expr, classes: int, pixels: int, all_classes: int | None = None) -> Evaluator:
    return Evaluator(expr, classes, pixels, all_classes)

"""The checker: every claim of a spec proved, refuted with a counterexample, or reported unknown.

Identities go through a fast symbolic decider (unroll concrete sums, expand sums linearly, turn
each distinct sum into a positive symbol, `cancel`), then a numeric search for a counterexample at
high precision, then `simplify` under a time budget. A symbolic "not zero" is never taken as a
refutation: only a concrete input is. Properties are checked on random in-domain inputs.
"""
from __future__ import annotations

import multiprocessing
import time
from dataclasses import dataclass

import mpmath
import numpy as np
import sympy as sp

from ..frontend.claims import Identity, Property
from ..frontend.language import C, c, i
from ..frontend.errors import SpecError
from ..frontend.language import CLASS_SETS, Pick, choose
from .evaluate import DPS, evaluator
from ..frontend.expand import free_indices, linearize, param_value, parameters, resolve, unroll
from ..frontend.functions import literal

TRIAL_SIZES = ((1, 3), (2, 4), (3, 3), (2, 5), (1, 4), (3, 4), (2, 3), (1, 5))
PERFECT_EPS = (mpmath.mpf("1e-30"), mpmath.mpf("1e-60"))  # two steps towards the limit p -> g
SIMPLIFY_SECONDS = 3.0


@dataclass
class Outcome:
    loss: str
    claim: str
    expect: str
    result: str  # proved | holds | refuted | unknown
    method: str  # symbolic | simplify | numeric
    seconds: float
    detail: str = ""
    note: str = ""

    @property
    def ok(self) -> bool:
        if self.expect == "refuted":
            return self.result == "refuted"
        return self.result in ("proved", "holds")

    @property
    def verdict(self) -> str:
        if self.expect == "refuted":
            return "erratum refuted" if self.ok else f"ERRATUM NOT REFUTED ({self.result})"
        return self.result if self.ok else self.result.upper()


# --------------------------------------------------------------------------- symbolic decider

def atomize(expr: sp.Expr) -> sp.Expr:
    """Each distinct sum becomes a positive symbol, leaving a rational function to cancel."""
    sums = sorted(expr.atoms(sp.Sum), key=sp.default_sort_key)
    return expr.xreplace({s: sp.Dummy(f"S{k}", positive=True) for k, s in enumerate(sums)})


def decide(difference: sp.Expr) -> bool:
    """True only when `difference` is identically zero (a proof); False means "not shown"."""
    try:
        return sp.cancel(atomize(linearize(unroll(difference)))) == 0
    except (sp.PolynomialError, TypeError, ValueError, RecursionError):
        return False


def _simplify_child(difference, conn):
    try:
        conn.send(bool(sp.simplify(difference) == 0))
    except Exception:  # noqa: BLE001 - any failure in the child just means "not proved"
        conn.send(False)


def simplify_is_zero(difference: sp.Expr, seconds: float = SIMPLIFY_SECONDS) -> bool:
    """`simplify(difference) == 0`, given up after `seconds` (run in a forked process)."""
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_simplify_child, args=(difference, child), daemon=True)
    proc.start()
    ok = parent.poll(seconds) and parent.recv()
    proc.kill()
    proc.join()
    return bool(ok)


# --------------------------------------------------------------------------- numeric inputs

def random_fields(rng, classes: int, pixels: int, present: bool = False, hard: bool = False) -> dict:
    """Logits, their sigmoid, and a hard target (one class per pixel when classes > 1).

    With `present`, every class (the foreground when classes == 1) occurs in the target; with
    `hard`, the prediction is hard too: p in {0, 1} and logits x = 2p - 1.
    """
    x = rng.normal(0.0, 2.0, size=(classes, pixels))
    if hard:
        x = 2.0 * rng.integers(0, 2, size=(classes, pixels)) - 1.0
        present = True
    if classes == 1:
        g = rng.integers(0, 2, size=(1, pixels)).astype(float)
        if present:
            g[0, rng.integers(0, pixels)] = 1.0
    else:
        labels = rng.integers(0, classes, size=pixels)
        if present:
            labels[rng.permutation(pixels)[:classes]] = np.arange(classes)
        g = np.eye(classes)[labels].T
    p = (x + 1.0) / 2.0 if hard else 1.0 / (1.0 + np.exp(-x))
    return {"x": x, "p": p, "g": g}


def free_parameters(*exprs) -> dict:
    """Everything a trial must give a value: scalar symbols, class-weight vectors, choices."""
    found = {}
    for e in exprs:
        if e is None:
            continue
        found.update({s.name: ("scalar", s) for s in parameters(e)})
        found.update({_weights_name(ind.base.name): ("weights", None) for ind in e.atoms(sp.Indexed)
                      if len(ind.indices) == 1 and _weights_name(ind.base.name) not in CLASS_SETS})
        found.update({pk.choice: ("choice", tuple(pk.branches)) for pk in e.atoms(Pick)})
    return found


def _weights_name(base: str) -> str:
    """The parameter behind a class vector: w for w and for w_all (its AllClasses form)."""
    return base[: -len("_all")] if base.endswith("_all") else base


def sample_parameters(found: dict, rng, classes: int, bound: dict | None = None) -> dict:
    values = {}
    for name, (kind, info) in sorted(found.items()):
        if kind == "scalar":
            values[name] = param_value(info, rng)
        elif kind == "weights":
            values[name] = list(rng.uniform(0.2, 3.0, size=classes))
        else:
            values[name] = info[int(rng.integers(0, len(info)))]
    return values | (bound or {})


def perfect_fields(g: np.ndarray, eps=PERFECT_EPS[0]) -> dict:
    """A prediction `eps` away from the hard target (exact at the evaluator's precision)."""
    with mpmath.workdps(120):
        p = [[(1 - eps) if v else eps for v in row] for row in g]
        logit = mpmath.log((1 - eps) / eps)
        x = [[logit if v else -logit for v in row] for row in g]
    return {"p": p, "g": g, "x": x}


def _fmt(v) -> str:
    return mpmath.nstr(v, 6) if isinstance(v, mpmath.mpf) else f"{float(v):.4g}"


def _describe(classes, pixels, params, fields) -> str:
    parts = [f"C={classes}", f"n={pixels}"] + [f"{k}={_fmt(v)}" for k, v in sorted(params.items())]
    for name in ("p", "g"):
        rows = "; ".join(" ".join(_fmt(v) for v in row) for row in fields[name])
        parts.append(f"{name}=[{rows}]")
    return ", ".join(parts)


def _close(a, b, rel=mpmath.mpf("1e-20")) -> bool:
    return abs(a - b) <= rel * (1 + abs(a) + abs(b))


# --------------------------------------------------------------------------- the checker

class Checker:
    """Checks the claims of specs in a registry (name -> Loss)."""

    def __init__(self, registry: dict, seed: int = 0, trials: int = 8):
        self.registry = registry
        self.seed = seed
        self.trials = trials

    def check(self, loss) -> list[Outcome]:
        return [self.check_claim(loss, claim) for claim in loss.claims]

    def check_claim(self, loss, claim) -> Outcome:
        start = time.perf_counter()
        try:
            with mpmath.workdps(DPS):  # comparisons at the evaluator's precision
                if isinstance(claim, Identity):
                    result, method, detail = self._identity(claim)
                elif isinstance(claim, Property):
                    result, method, detail = self._property(loss, claim)
                else:
                    raise SpecError(f"claims lists {claim!r}: use Identity(...) or Property.<kind>(...)")
        except SpecError as err:
            raise err.located(loss.path, loss.line)
        return Outcome(loss.name, claim.text, claim.expect, result, method,
                       time.perf_counter() - start, detail, claim.note)

    # identities ----------------------------------------------------------------------------
    def _identity(self, claim: Identity):
        lhs, rhs = (resolve(e, self.registry) for e in (claim.lhs, claim.rhs))
        pairs = [(lhs, rhs)]
        if claim.classes is not None:
            lhs, rhs = (unroll(e.xreplace({C: claim.classes})) for e in (lhs, rhs))
            pairs = [(lhs.xreplace({c: k}), rhs.xreplace({c: k})) for k in range(claim.classes)]
        diffs = [literal(a - b) for a, b in pairs]
        if claim.inputs == "soft" and all(decide(d) for d in diffs):
            return "proved", "symbolic", ""
        counterexample = self._search(lhs, rhs, claim.classes, hard=claim.inputs == "hard")
        if counterexample:
            return "refuted", "numeric", counterexample
        if claim.inputs == "soft" and all(simplify_is_zero(d) for d in diffs):
            return "proved", "simplify", ""
        return "holds", "numeric", f"no counterexample in {self.trials} random trials at 50 digits"

    def _sizes(self, classes):
        sizes = TRIAL_SIZES[: self.trials]
        return [(classes, n) for _, n in sizes] if classes else sizes

    def _search(self, lhs, rhs, classes=None, hard=False) -> str:
        rng = np.random.default_rng(self.seed)
        found = free_parameters(lhs, rhs)
        for ncls, npix in self._sizes(classes):
            fields = random_fields(rng, ncls, npix, hard=hard)
            params = sample_parameters(found, rng, ncls)
            left = evaluator(choose(lhs, params), ncls, npix)(fields, params)
            right = evaluator(choose(rhs, params), ncls, npix)(fields, params)
            for key in left:
                if not (mpmath.isfinite(left[key]) and key in right and _close(left[key], right[key])):
                    where = f" at entry {key}" if key else ""
                    return (f"{_describe(ncls, npix, params, fields)}: "
                            f"lhs={_fmt(left[key])} rhs={_fmt(right[key])}{where}")
        return ""

    # properties ----------------------------------------------------------------------------
    def _property(self, loss, prop: Property):
        expr = resolve(prop.expr if prop.expr is not None else loss.expr, self.registry)
        other = resolve(prop.other, self.registry) if prop.other is not None else None
        bound = {k: (v if isinstance(v, str) else float(v)) for k, v in prop.bindings.items()}
        rng = np.random.default_rng(self.seed)
        found = free_parameters(expr, other)
        unknown = set(bound) - set(found)
        if unknown:
            raise SpecError(f"{prop.text}: binds {sorted(unknown)}, which the formula does not use")
        if prop.kind == "permutation_invariant" and i in free_indices(expr):
            raise SpecError(f"{prop.text}: a per-pixel formula is not invariant to permuting pixels")
        for ncls, npix in self._sizes(None):
            fields = random_fields(rng, ncls, npix, present=prop.kind == "zero_at_perfect")
            params = sample_parameters(found, rng, ncls, bound)
            chosen_other = choose(other, params) if other is not None else None
            failure = self._property_trial(prop, choose(expr, params), chosen_other, ncls, npix, fields, params, rng)
            if failure:
                return "refuted", "numeric", failure
        return "holds", "numeric", f"{self.trials} random trials at 50 digits"

    def _property_trial(self, prop, expr, other, ncls, npix, fields, params, rng) -> str:
        ev = evaluator(expr, ncls, npix)
        tol = mpmath.mpf("1e-20")
        if prop.kind in ("zero_at_perfect", "minimal_at_perfect"):
            perfect = perfect_fields(fields["g"])
            at_perfect = ev(perfect, params)
            if prop.kind == "zero_at_perfect":
                # The value must vanish in the limit: tiny already, or shrinking with the distance to g.
                closer = ev(perfect_fields(fields["g"], PERFECT_EPS[1]), params)
                bad = {k: v for k, v in at_perfect.items() if abs(closer[k]) > max(tol, abs(v) * mpmath.mpf("1e-3"))}
                fields = perfect
            else:
                here = ev(fields, params)
                bad = {k: at_perfect[k] for k in here if at_perfect[k] > here[k] + tol}
                if bad:
                    key = next(iter(bad))
                    return (f"{_describe(ncls, npix, params, fields)}: value {_fmt(here[key])}, "
                            f"but {_fmt(at_perfect[key])} at the perfect prediction")
        elif prop.kind == "permutation_invariant":
            order = rng.permutation(npix)
            shuffled = {k: np.asarray(v, dtype=object)[:, order] for k, v in fields.items()}
            here, there = ev(fields, params), ev(shuffled, params)
            bad = {k: here[k] for k in here if not _close(here[k], there[k])}
        else:
            values = ev(fields, params)
            if prop.kind == "nonnegative":
                bad = {k: v for k, v in values.items() if v < -tol}
            elif prop.kind == "bounded":
                lo, hi = float(prop.low), float(prop.high)
                bad = {k: v for k, v in values.items() if v < lo - tol or v > hi + tol}
            elif prop.kind == "le":
                others = evaluator(other, ncls, npix)(fields, params)
                bad = {k: v for k, v in values.items() if v > others[k] + tol}
            else:
                raise SpecError(f"unknown property kind {prop.kind!r}")
        undefined = {k: v for k, v in ev(fields, params).items() if not mpmath.isfinite(v)}
        bad = bad or undefined
        if bad:
            key, value = next(iter(bad.items()))
            where = f" at entry {key}" if key else ""
            return f"{_describe(ncls, npix, params, fields)}: value {_fmt(value)}{where}"
        return ""

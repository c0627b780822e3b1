"""The checker: every claim of a spec proved, refuted with a counterexample, or reported unknown.

Identities go through a fast symbolic decider (unroll concrete sums, expand sums linearly, turn
each distinct sum into a positive symbol, `cancel`), then a numeric search for a counterexample at
high precision, then `simplify` under a time budget. A symbolic "not zero" is never taken as a
refutation: only a concrete input is. Properties are checked on random in-domain inputs.
"""
from __future__ import annotations

import difflib
import itertools
import multiprocessing
import time
from dataclasses import dataclass
from pathlib import Path

import mpmath
import numpy as np
import sympy as sp

from ..frontend.claims import Identity, Property, class_range
from ..frontend.language import C, c, i
from ..frontend.errors import SpecError
from ..frontend.language import CLASS_SETS, Pick, choose
from .evaluate import DPS, evaluator
from ..frontend.expand import free_indices, linearize, param_value, parameters, resolve, unroll
from ..frontend.functions import literal
from ..frontend.source import keyword_line

TRIAL_SIZES = ((1, 3), (2, 4), (3, 3), (2, 5), (1, 4), (3, 4), (2, 3), (1, 5))
# Steps towards the limit p -> g: a value that vanishes there shrinks like a power of the distance.
PERFECT_EPS = (mpmath.mpf("1e-24"), mpmath.mpf("1e-48"), mpmath.mpf("1e-72"))
PERFECT_POINT = mpmath.mpf("1e-30")  # "the perfect prediction" where it is compared with others
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
    path: str | None = None  # the spec file and line of the claim
    line: int | None = None

    @property
    def where(self) -> str:
        return "" if self.path is None else self.path if self.line is None else f"{self.path}:{self.line}"

    @property
    def advice(self) -> str:
        """What to change when the claim failed."""
        if self.ok:
            return ""
        if self.expect == "refuted":
            return (f"the erratum {self.result} instead of being refuted: drop expect=\"refuted\" if the form "
                    f"is right, or correct it")
        if self.result == "refuted":
            return ("the claim is false (counterexample above): correct it, restrict the inputs it is about "
                    "(classes=, inputs=, targets=), or mark it expect=\"refuted\" if it records an erratum")
        return ("neither proved nor refuted: restrict the inputs it is about (classes=, inputs=, targets=) "
                "or remove the claim")

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

def random_fields(rng, classes: int, pixels: int, present: bool = False, hard: bool = False,
                  softmax: bool = False, soft_targets: bool = False) -> dict:
    """Logits, their sigmoid, and a hard target (one class per pixel when classes > 1).

    With `present`, every class (the foreground when classes == 1) occurs in the target; with
    `hard`, the prediction is hard too: p in {0, 1} and logits x = 2p - 1; with `softmax`, p is the
    softmax of the logits over the classes; with `soft_targets`, g is drawn from [0, 1].
    """
    x = rng.normal(0.0, 2.0, size=(classes, pixels))
    if hard:
        x = 2.0 * rng.integers(0, 2, size=(classes, pixels)) - 1.0
        present = True
    if soft_targets:
        g = rng.uniform(0.0, 1.0, size=(classes, pixels))
    elif classes == 1:
        g = rng.integers(0, 2, size=(1, pixels)).astype(float)
        if present:
            g[0, rng.integers(0, pixels)] = 1.0
    else:
        labels = rng.integers(0, classes, size=pixels)
        if present:
            labels[rng.permutation(pixels)[:classes]] = np.arange(classes)
        g = np.eye(classes)[labels].T
    if hard:
        p = (x + 1.0) / 2.0
    elif softmax:  # at the evaluator's precision, so that the probabilities sum to 1 at 50 digits too
        with mpmath.workdps(DPS):
            e = [[mpmath.exp(mpmath.mpf(float(v))) for v in row] for row in x]
            totals = [mpmath.fsum(col) for col in zip(*e)]
            p = np.array([[v / t for v, t in zip(row, totals)] for row in e], dtype=object)
    else:
        p = 1.0 / (1.0 + np.exp(-x))
    return {"x": x, "p": p, "g": g}


def claim_fields(rng, claim, classes: int, pixels: int, present: bool = False) -> dict:
    """Random inputs of the kind a claim is about (its `inputs=` and `targets=`)."""
    return random_fields(rng, classes, pixels, present=present, hard=claim.inputs == "hard",
                         softmax=claim.inputs == "softmax", soft_targets=claim.targets == "soft")


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


def perfect_fields(g: np.ndarray, eps=PERFECT_POINT) -> dict:
    """A prediction `eps` away from the target where it is 0 or 1, equal to it elsewhere (exact at the
    evaluator's precision)."""
    with mpmath.workdps(120):
        def near(v):
            return (1 - eps) if v == 1 else eps if v == 0 else mpmath.mpf(float(v))
        p = [[near(v) for v in row] for row in g]
        x = [[mpmath.log(v / (1 - v)) for v in row] for row in p]
    return {"p": p, "g": g, "x": x}


def _fmt(v) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, (list, tuple, np.ndarray)):
        return "[" + " ".join(_fmt(e) for e in v) + "]"
    return mpmath.nstr(v, 6) if isinstance(v, mpmath.mpf) else f"{float(v):.4g}"


def _describe(classes, pixels, params, fields) -> str:
    parts = [f"C={classes}", f"n={pixels}"] + [f"{k}={_fmt(v)}" for k, v in sorted(params.items())]
    for name in ("p", "g"):
        rows = "; ".join(" ".join(_fmt(v) for v in row) for row in fields[name])
        parts.append(f"{name}=[{rows}]")
    return ", ".join(parts)


def _close(a, b, rel=mpmath.mpf("1e-20")) -> bool:
    if mpmath.isinf(a) or mpmath.isinf(b):
        return a == b
    return abs(a - b) <= rel * (1 + abs(a) + abs(b))


def _undefined(v) -> bool:
    return mpmath.isnan(v)


def aligned(left: dict, left_free: tuple, right: dict, right_free: tuple) -> list:
    """[(key, left value, right value)] over every entry of either side, a side with fewer free indices
    broadcast along the ones it lacks (a per-sample value against a per-class one, say)."""
    free = tuple(ix for ix in (c, i) if ix in left_free or ix in right_free)
    values = {ix: sorted({k[side_free.index(ix)] for side, side_free in ((left, left_free), (right, right_free))
                          if ix in side_free for k in side}) for ix in free}
    pairs = []
    for key in itertools.product(*(values[ix] for ix in free)):
        at = dict(zip(free, key))
        lkey = tuple(at[ix] for ix in left_free)
        rkey = tuple(at[ix] for ix in right_free)
        if lkey in left and rkey in right:
            pairs.append((key, left[lkey], right[rkey]))
    return pairs


def _slope(v1, v2, e1, e2):
    """The power a in |v| ~ eps^a between two steps towards the limit."""
    if v2 == 0:
        return mpmath.inf
    if v1 == 0:
        return -mpmath.inf
    return mpmath.log(abs(v1) / abs(v2)) / mpmath.log(e1 / e2)


def tends_to_zero(values: list, steps=PERFECT_EPS, tol=mpmath.mpf("1e-20")) -> bool:
    """Whether values at distances `steps` from the limit vanish there: tiny already, or shrinking like
    a positive power of the distance (not levelling off at some other value)."""
    if abs(values[-1]) <= tol:
        return True
    slopes = [_slope(values[k], values[k + 1], steps[k], steps[k + 1]) for k in range(len(values) - 1)]
    return all(a > mpmath.mpf("1e-3") for a in slopes) and slopes[-1] >= slopes[0] / 2


# --------------------------------------------------------------------------- the checker

class Checker:
    """Checks the claims of specs in a registry (name -> Loss)."""

    def __init__(self, registry: dict, seed: int = 0, trials: int = 8):
        self.registry = registry
        self.seed = seed
        self.trials = trials

    def check(self, loss) -> list[Outcome]:
        check_left_out_units(loss, self.registry)
        return [self.check_claim(loss, claim) for claim in loss.claims]

    def check_claim(self, loss, claim) -> Outcome:
        start = time.perf_counter()
        path, line = claim_location(loss, claim)
        try:
            with mpmath.workdps(DPS):  # comparisons at the evaluator's precision
                if isinstance(claim, Identity):
                    result, method, detail = self._identity(claim)
                elif isinstance(claim, Property):
                    result, method, detail = self._property(loss, claim)
                else:
                    raise SpecError(f"claims lists {claim!r}: use Identity(...) or Property.<kind>(...)")
        except SpecError as err:
            raise err.located(path, line) from None
        except Exception as err:  # noqa: BLE001 - a traceback from the checker is a bug; the author gets the line
            raise SpecError(
                f"the checker failed on the claim {claim.text!r} ({type(err).__name__}: {err}); this is a symloss "
                f"bug, please report it; meanwhile rewrite or remove the claim",
                path=path, line=line, internal=True) from err
        return Outcome(loss.name, claim.text, claim.expect, result, method,
                       time.perf_counter() - start, detail, claim.note, path, line)

    # identities ----------------------------------------------------------------------------
    def _identity(self, claim: Identity):
        lhs, rhs = (resolve(e, self.registry) for e in (claim.lhs, claim.rhs))
        pairs = [(lhs, rhs)]
        bounds = class_range(claim.classes)
        if bounds is not None and bounds[0] == bounds[1]:  # a fixed number of classes: unroll the class sums
            lhs, rhs = (unroll(e.xreplace({C: bounds[0]})) for e in (lhs, rhs))
            pairs = [(lhs.xreplace({c: k}), rhs.xreplace({c: k})) for k in range(bounds[0])]
        diffs = [literal(a - b) for a, b in pairs]
        # A symbolic proof holds for every input, so for any restriction of them too; the slow one is not
        # tried where the claim needs its restriction (hard predictions).
        if all(decide(d) for d in diffs):
            return "proved", "symbolic", ""
        counterexample, undefined, trials = self._search(lhs, rhs, claim)
        if counterexample:
            return "refuted", "numeric", counterexample
        if claim.inputs != "hard" and all(simplify_is_zero(d) for d in diffs):
            return "proved", "simplify", ""
        if not trials:
            return "unknown", "numeric", f"undefined (NaN) at every trial, e.g. {undefined}"
        skipped = f"; undefined at {undefined}" if undefined else ""
        return "holds", "numeric", f"no counterexample in {trials} random trials at 50 digits{skipped}"

    def _sizes(self, claim):
        sizes = TRIAL_SIZES[: self.trials]
        bounds = class_range(claim.classes)
        if bounds is None:
            return list(sizes)
        lo, hi = bounds
        return [(min(max(k, lo), hi if hi is not None else max(k, lo)), n) for k, n in sizes]

    def _search(self, lhs, rhs, claim) -> tuple[str, str, int]:
        """(counterexample, an input where a side is undefined, trials where both sides are defined)."""
        rng = np.random.default_rng(self.seed)
        found = free_parameters(lhs, rhs)
        undefined, trials = "", 0
        for ncls, npix in self._sizes(claim):
            fields = claim_fields(rng, claim, ncls, npix)
            params = sample_parameters(found, rng, ncls)
            chosen = [choose(e, params) for e in (lhs, rhs)]
            left, right = (evaluator(e, ncls, npix)(fields, params) for e in chosen)
            pairs = aligned(left, free_indices(chosen[0]), right, free_indices(chosen[1]))
            nan = [key for key, a, b in pairs if _undefined(a) or _undefined(b)]
            if nan:  # NaN is no counterexample: the formula says nothing there
                undefined = undefined or f"{_describe(ncls, npix, params, fields)}{_entry(nan[0])}"
                continue
            trials += 1
            for key, a, b in pairs:
                if not _close(a, b):
                    return (f"{_describe(ncls, npix, params, fields)}: lhs={_fmt(a)} rhs={_fmt(b)}{_entry(key)}",
                            undefined, trials)
        return "", undefined, trials

    # properties ----------------------------------------------------------------------------
    def _property(self, loss, prop: Property):
        expr = resolve(prop.expr if prop.expr is not None else loss.expr, self.registry)
        other = resolve(prop.other, self.registry) if prop.other is not None else None
        found = free_parameters(expr, other)
        bound = {k: _bound_value(prop, k, v, found) for k, v in prop.bindings.items()}
        rng = np.random.default_rng(self.seed)
        if prop.kind == "permutation_invariant" and i in free_indices(expr):
            raise SpecError(f"{prop.text}: a per-pixel formula is not invariant to permuting pixels")
        undefined, trials = "", 0
        for ncls, npix in self._sizes(prop):
            fields = claim_fields(rng, prop, ncls, npix, present=prop.kind == "zero_at_perfect")
            params = sample_parameters(found, rng, ncls, bound)
            chosen_other = choose(other, params) if other is not None else None
            failure, nan = self._property_trial(prop, choose(expr, params), chosen_other, ncls, npix, fields, params,
                                                rng)
            if failure:
                return "refuted", "numeric", failure
            if nan:  # NaN is no counterexample: the formula says nothing there
                undefined = undefined or nan
                continue
            trials += 1
        if not trials:
            return "unknown", "numeric", f"undefined (NaN) at every trial, e.g. {undefined}"
        skipped = f"; undefined at {undefined}" if undefined else ""
        return "holds", "numeric", f"{trials} random trials at 50 digits{skipped}"

    def _property_trial(self, prop, expr, other, ncls, npix, fields, params, rng) -> tuple[str, str]:
        """(a counterexample, or an input where the formula is undefined); both empty when the trial passed."""
        ev = evaluator(expr, ncls, npix)
        tol = mpmath.mpf("1e-20")
        free = free_indices(expr)
        if prop.kind == "zero_at_perfect":
            # Judged at the limit p -> g: the value must vanish there, approached in steps.
            steps = [ev(perfect_fields(fields["g"], eps), params) for eps in PERFECT_EPS]
            fields = perfect_fields(fields["g"], PERFECT_EPS[-1])
            pairs = [(k, [s[k] for s in steps]) for k in steps[0]]
            nan = [k for k, vs in pairs if any(_undefined(v) for v in vs)]
            if nan:
                return "", f"{_describe(ncls, npix, params, fields)}{_entry(nan[0])}"
            bad = [(k, vs[-1]) for k, vs in pairs if not tends_to_zero(vs)]
            if bad:
                key, value = bad[0]
                return (f"{_describe(ncls, npix, params, fields)}: value {_fmt(value)}{_entry(key)}, not vanishing "
                        f"as p approaches g"), ""
            return "", ""
        if prop.kind == "minimal_at_perfect":
            at_perfect, here = ev(perfect_fields(fields["g"]), params), ev(fields, params)
            pairs = [(k, here[k], at_perfect[k]) for k in here]
            nan = [k for k, a, b in pairs if _undefined(a) or _undefined(b)]
            if nan:
                return "", f"{_describe(ncls, npix, params, fields)}{_entry(nan[0])}"
            bad = [(k, a, b) for k, a, b in pairs if b > a + tol]
            if bad:
                key, a, b = bad[0]
                return (f"{_describe(ncls, npix, params, fields)}: value {_fmt(a)}, "
                        f"but {_fmt(b)} at the perfect prediction{_entry(key)}"), ""
            return "", ""
        if prop.kind == "permutation_invariant":
            order = rng.permutation(npix)
            shuffled = {k: np.asarray(v, dtype=object)[:, order] for k, v in fields.items()}
            here, there = ev(fields, params), ev(shuffled, params)
            pairs = [(k, here[k], there[k]) for k in here]
            check = lambda a, b: _close(a, b)  # noqa: E731
        elif prop.kind == "le":
            values = ev(fields, params)
            others = evaluator(other, ncls, npix)(fields, params)
            pairs = aligned(values, free, others, free_indices(other))
            check = lambda a, b: a <= b + tol  # noqa: E731
        elif prop.kind in ("nonnegative", "bounded"):
            values = ev(fields, params)
            lo, hi = (0.0, mpmath.inf) if prop.kind == "nonnegative" else (float(prop.low), float(prop.high))
            pairs = [(k, v, v) for k, v in values.items()]
            check = lambda a, b: lo - tol <= a <= hi + tol  # noqa: E731
        else:
            raise SpecError(f"unknown property kind {prop.kind!r}")
        nan = [k for k, a, b in pairs if _undefined(a) or _undefined(b)]
        if nan:
            return "", f"{_describe(ncls, npix, params, fields)}{_entry(nan[0])}"
        bad = [(k, a) for k, a, b in pairs if not check(a, b)]
        if bad:
            key, value = bad[0]
            return f"{_describe(ncls, npix, params, fields)}: value {_fmt(value)}{_entry(key)}", ""
        return "", ""


GUARD = sp.Float("1e-300")  # stands for the compute dtype's smallest normal number (ctx.tiny)


def guarded(expr: sp.Expr) -> sp.Expr:
    """The formula with the clamps the generated code adds (backend/rules.guard): the argument of a log and the
    base of a non-integer power of a field are clamped at ctx.tiny, with no gradient below it."""
    def reads_field(e):
        return bool(e.atoms(sp.Indexed))

    expr = expr.replace(lambda e: isinstance(e, sp.log) and reads_field(e.args[0]),
                        lambda e: sp.log(sp.Max(e.args[0], GUARD)))
    return expr.replace(lambda e: isinstance(e, sp.Pow) and not e.exp.is_Integer and reads_field(e.base),
                        lambda e: sp.Pow(sp.Max(e.base, GUARD), e.exp))


def check_left_out_units(loss, registry: dict) -> None:
    """With a mean_denominator, `reduction="mean"` leaves out a unit whose weights sum to 0 (e.g. no class
    present); the generated code still computes its entries, and a masked entry that is infinite, or has an
    infinite derivative, turns the gradient into NaN (0 times infinity). Such a spec is refused: each entry,
    guarded as the generated code guards it, must be finite, value and gradient, on a unit with an empty target."""
    if loss.mean_denominator is None or i in free_indices(resolve(loss.expr, registry)):
        return  # a loss per pixel pools its weights over the batch and leaves no unit out
    expr, weight = guarded(resolve(loss.expr, registry)), resolve(loss.mean_denominator, registry)
    rng = np.random.default_rng(0)
    defaults = {prm.name: (prm.default if isinstance(prm.default, str) or prm.default is None else float(prm.default))
                for prm in loss.params}
    choices = [[(ch.name, o) for o in ch.options] for ch in loss.choices]
    for combo in itertools.product(*choices):
        params = defaults | dict(combo)
        chosen, chosen_weight = choose(expr, params), choose(weight, params)
        for ncls in (1, 2, 3):
            fields = random_fields(rng, ncls, 3)
            fields["g"] = np.zeros_like(fields["g"])
            if any(v != 0 for v in evaluator(chosen_weight, ncls, 3)(fields, params).values()):
                continue
            ev = evaluator(chosen, ncls, 3)
            values, grads = ev.gradient(fields, params, [1] * len(ev.keys))
            numbers = list(values.values()) + [v for rows in grads.values() for row in rows for v in row]
            if not all(mpmath.isfinite(v) for v in numbers):
                where = f" with {', '.join(f'{k}={v}' for k, v in dict(combo).items())}" if combo else ""
                raise SpecError(
                    f"mean_denominator leaves out a unit whose target is empty{where}, but the formula is not finite "
                    f"there (value or gradient, e.g. C={ncls}, n=3, g=0): the generated gradient would be NaN. Make "
                    f"each entry finite on an empty target (e.g. add smoothing), or drop mean_denominator",
                    path=loss.path, line=keyword_line(loss.path, loss.line, "mean_denominator") or loss.line)


def _bound_value(prop, name, value, found: dict):
    """A property's binding of one parameter as the evaluator takes it: a number, or a Choice's option."""
    if name not in found:
        close = difflib.get_close_matches(name, list(found), n=1)
        hint = f": did you mean {close[0]!r}?" if close else f" (it uses: {', '.join(sorted(found)) or 'none'})"
        raise SpecError(f"{prop.text}: binds {name!r}, which the formula does not use{hint}")
    kind, info = found[name]
    if kind == "weights":
        raise SpecError(f"{prop.text}: binds the class weights {name!r}; a property is checked at random class "
                        f"weights: leave {name} unbound")
    if kind == "choice":
        if value not in info:
            raise SpecError(f"{prop.text}: {name}={value!r} is not one of its options {info}")
        return value
    number = sp.sympify(value) if not isinstance(value, str) else None
    if number is None or not number.is_number or not number.is_real:
        raise SpecError(f"{prop.text}: binds {name}={value!r}; a property binds a parameter to a number, "
                        f"e.g. {name}=0")
    return float(number)


def _entry(key) -> str:
    return f" at entry {key}" if key else ""


def claim_location(loss, claim) -> tuple[str, int | None]:
    """The spec file and the line of the claim (the Loss's line if the claim was written elsewhere)."""
    path, line = getattr(claim, "path", None), getattr(claim, "line", None)
    if path and loss.path and Path(path).resolve() == Path(loss.path).resolve():
        return loss.path, line
    return loss.path, loss.line

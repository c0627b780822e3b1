"""One benchmark block per shape: floors, baselines, generated losses and their literal twins,
all interleaved in the same rounds; then each generated case is scored against its plan."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from . import cases as C_
from .baselines import PADDLE_BASELINES, NotApplicable, floor_fns
from .pseg import PADDLESEG_BASELINES
from .timing import Case, Measurement, ratio, run_interleaved

BASELINES = {**PADDLE_BASELINES, **PADDLESEG_BASELINES}
REL_TOL, ABS_TOL = 1e-4, 1e-6  # float32 sums over 10^5-10^6 pixels agree to about 1e-6 relative
# Peak memory counts a few scalars and Python objects too: equal within 1 % or 64 KiB.
MEMORY_SLACK, MEMORY_FLOOR = 0.01, 64 * 1024


@dataclass
class Verdict:
    """One target of a row, judged."""

    target: C_.Target
    against: str | None = None  # the baseline / floor / literal the target was taken against
    ratio: tuple | None = None  # (median, q1, q3) of the per-round time ratios, or the peak-memory ratio
    met: bool | None = None
    missed: list = field(default_factory=list)  # "time" and/or "memory"
    within_noise: bool = False  # missed on time, but the ratio's first quartile is within the limit
    why_not: str | None = None  # when met is None: why the target could not be evaluated


@dataclass
class Row:
    """One generated case, its literal twin, and how it scores."""

    loss: str
    plan: C_.Plan
    floor: str
    gen: Measurement
    lit: Measurement | None
    lit_missing: str | None = None
    ratios: dict = field(default_factory=dict)  # "floor" | "best" | "literal" -> (r, q1, q3)
    best: str | None = None  # the baseline behind the "best" ratio
    verdicts: list = field(default_factory=list)  # one per target of the plan
    identical: bool = False  # the generated module is the literal translation, character for character
    mismatches: list = field(default_factory=list)  # twins whose values differ


@dataclass
class Block:
    shape: tuple
    measurements: dict  # key -> Measurement (floors, baselines)
    skipped: dict  # baseline id -> why it was not run
    rows: list

    @property
    def classes(self) -> int:
        return self.shape[1]


def make_inputs(shape, seed=0):
    """Seeded logits ~ N(0, 1) and int64 labels uniform over the classes (2 when C == 1); no ignored
    pixels, so the generated losses take their unmasked path and PaddleSeg still builds its mask.
    They are made on Paddle's current device (`symloss bench --device`)."""
    import paddle

    paddle.seed(seed)
    logit = paddle.randn(list(shape), dtype="float32")
    label = paddle.randint(0, max(shape[1], 2), [shape[0]] + list(shape[2:]), dtype="int64")
    return logit, label


def _close(a, b) -> bool:
    return a is not None and b is not None and math.isclose(a, b, rel_tol=REL_TOL, abs_tol=ABS_TOL)


def _call(fn, kwargs):
    return lambda x, label: fn(x, label, **kwargs)


def _with_reference_maps(fn, kwargs):
    """The loss with its distance maps computed by the per-image reference functions (SciPy, one
    image and class at a time, as the runtime did before its batch maps): what MAP_TARGET halves."""

    def call(x, label):
        from symloss.paddle import _runtime

        batch_maps, _runtime.BATCH_MAPS = _runtime.BATCH_MAPS, {}
        try:
            return fn(x, label, **kwargs)
        finally:
            _runtime.BATCH_MAPS = batch_maps

    return call


def run_block(shape, functions: dict, literals: dict, literal_missing: dict, repeats: int,
              warmup: int, families: dict | None = None, device: str = "cpu") -> Block:
    C = shape[1]
    logit, label = make_inputs(shape)
    families = families or {}
    plans = [(name, plan) for name in sorted(functions) for plan in C_.plans_for(name, C, families.get(name))]
    wanted = []
    for _, plan in plans:
        targets = [t.against for t in plan.targets() if t.against in BASELINES]
        wanted += [b for b in (*plan.same, *plan.reference, *targets) if b not in wanted]

    cases = [Case(key, fn) for key, fn in floor_fns(label, C).items()]
    skipped = {}
    for bid in wanted:
        baseline = BASELINES[bid]
        try:
            cases.append(Case(bid, baseline.make(C), baseline.fresh_label))
        except NotApplicable as why:
            skipped[bid] = str(why)
        except Exception as err:  # e.g. a PaddleSeg release that moved or renamed a class
            skipped[bid] = f"could not be built: {type(err).__name__}: {err}"[:160]
    keys = []
    for name, plan in plans:
        key = f"{name} [{plan.variant()}]"
        keys.append(key)
        cases.append(Case(key, _call(functions[name], plan.kwargs)))
        if name in literals:
            cases.append(Case("literal " + key, _call(literals[name], plan.kwargs)))
        if any(t.against == C_.REFERENCE_MAPS for t in plan.targets()):
            cases.append(Case(f"{C_.REFERENCE_MAPS} {key}", _with_reference_maps(functions[name], plan.kwargs)))

    measured = run_interleaved(cases, logit, label, repeats, warmup, device)
    rows = [score(name, plan, C, key, measured, skipped, literal_missing.get(name))
            for (name, plan), key in zip(plans, keys)]
    for row in rows:
        row.identical = getattr(literals.get(row.loss), "identical", False)
    twins = ("literal ", C_.REFERENCE_MAPS + " ")
    others = {k: m for k, m in measured.items() if k not in keys and not k.startswith(twins)}
    return Block(tuple(shape), others, skipped, rows)


def score(name, plan, C, key, measured, skipped, lit_missing) -> Row:
    """Ratios to the floor, the best baseline and the literal twin, and each target's verdict."""
    gen = measured[key]
    lit = measured.get("literal " + key)
    row = Row(name, plan, C_.floor_of(plan, C), gen, lit, lit_missing or (None if lit else "not loaded"))
    row.ratios["floor"] = ratio(gen, measured[row.floor])
    ran = lambda ids: [measured[b] for b in ids if b in measured and measured[b].ok]  # noqa: E731
    pool = ran(plan.same) or ran(plan.reference)
    if pool:
        best = min(pool, key=lambda m: m.median)
        row.best, row.ratios["best"] = best.key, ratio(gen, best)
    if lit is not None:
        row.ratios["literal"] = ratio(gen, lit)
    if gen.ok:
        maps = measured.get(f"{C_.REFERENCE_MAPS} {key}")
        for twin in [lit, maps] + [measured[b] for b in plan.same if b in measured]:
            if twin is not None and twin.ok and not _close(gen.value, twin.value):
                row.mismatches.append(f"{twin.key}: {twin.value:.6g} vs generated {gen.value:.6g}")
    row.verdicts = [_judge(row, key, target, measured, skipped, ran) for target in plan.targets()]
    return row


def _against(row: Row, key, target, measured, skipped, ran):
    """(the measurement a target is taken against, or None, and why not)."""
    if target.against == C_.BEST:
        pool = ran(row.plan.same)
        why = "no same-value baseline ran: " + "; ".join(
            f"{b}: {skipped.get(b) or measured[b].error}" for b in row.plan.same if b in skipped or b in measured)
        return (min(pool, key=lambda m: m.median) if pool else None), why
    if target.against == C_.LITERAL:
        why = f"literal translation: {row.lit_missing or (row.lit.error if row.lit else 'missing')}"
        return (row.lit if row.lit is not None and row.lit.ok else None), why
    if target.against == C_.FLOORS:
        return measured[row.floor], "floor failed"
    if target.against == C_.REFERENCE_MAPS:
        twin = measured.get(f"{C_.REFERENCE_MAPS} {key}")
        return twin, f"{C_.REFERENCE_MAPS}: {twin.error if twin else 'not run'}"
    against = measured.get(target.against)
    return against, f"{target.against}: {skipped.get(target.against) or (against.error if against else 'not run')}"


def _judge(row: Row, key, target, measured, skipped, ran) -> Verdict:
    verdict = Verdict(target)
    if not row.gen.ok:
        verdict.why_not = f"generated loss failed: {row.gen.error}"
        return verdict
    against, why = _against(row, key, target, measured, skipped, ran)
    if against is None or not against.ok:
        verdict.why_not = why
        return verdict
    verdict.against = against.key
    if target.kind == "memory":
        if row.gen.peak_bytes is None or not against.peak_bytes:
            verdict.why_not = "peak memory not measured"
            return verdict
        share = row.gen.peak_bytes / against.peak_bytes
        verdict.ratio = (share, share, share)
        allowed = target.limit * against.peak_bytes + max(MEMORY_SLACK * against.peak_bytes, MEMORY_FLOOR)
        verdict.missed = [] if row.gen.peak_bytes <= allowed else ["memory"]
        verdict.met = not verdict.missed
        return verdict
    verdict.ratio = ratio(row.gen, against)
    if verdict.ratio[0] > target.limit:
        verdict.missed.append("time")
    if target.memory and row.gen.peak_bytes is not None and against.peak_bytes is not None:
        if row.gen.peak_bytes > against.peak_bytes + max(MEMORY_SLACK * against.peak_bytes, MEMORY_FLOOR):
            verdict.missed.append("memory")
    verdict.met = not verdict.missed
    # Missed on time by the median, but a quarter of the rounds were within the limit.
    verdict.within_noise = verdict.missed == ["time"] and verdict.ratio[1] <= target.limit
    return verdict

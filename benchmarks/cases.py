"""Which baselines each loss is timed against, and the target it has to meet: one table, as data.

A loss missing from PLANS gets DEFAULT: every shape, default keywords, and the target every loss
without a named one has (no slower than its literal translation, no more peak memory). A name in
PLANS that is not registered is skipped, so the table can list the whole catalog ahead of it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from . import pseg
from .baselines import BCE_LOGITS, CE_NCHW, CE_NHWC, FLOOR, SIGMOID_FOCAL, SOFTMAX_FLOOR

BINARY, MULTI, ANY = "binary", "multi", "any"  # shapes with C == 1, C >= 2, every shape

BEST = "best"  # the fastest of the plan's same-value baselines
LITERAL = "literal"  # the spec's literal translation (no rewrites, no shared statistics)
FLOORS = "floor"  # the plan's floor: sum(x*y), or sum(softmax(x)*y) for a softmax case
PLAIN_FLOOR = "floor: sum(x*y)"  # the memory-bound floor itself, whatever the activation
REFERENCE_MAPS = "reference maps"  # the same loss, its distance maps by the per-image reference (SciPy)


@dataclass(frozen=True)
class Target:
    against: str  # BEST, LITERAL, FLOORS, PLAIN_FLOOR, REFERENCE_MAPS or a baseline id
    limit: float  # generated / against <= limit
    memory: bool = False  # and peak memory <= against's (literal only)
    kind: str = "time"  # "time", or "memory": peak memory <= limit x against's peak memory

    def text(self) -> str:
        if self.kind == "memory":
            return f"peak memory <= {self.limit:g} x {self.against}'s"
        memory = ", peak memory <= it" if self.memory else ""
        return f"<= {self.limit:g} x {self.against}{memory}"


@dataclass(frozen=True)
class Plan:
    classes: str  # BINARY | MULTI | ANY
    kwargs: dict = field(default_factory=dict)  # for the generated loss and its literal twin
    same: tuple = ()  # baselines computing the same value (checked on the warm-up call)
    reference: tuple = ()  # baselines of a different formula, timed for scale
    target: Target | None = Target(LITERAL, 1.0, memory=True)
    extra: tuple = ()  # further targets, judged alike

    def targets(self) -> tuple:
        return ((self.target,) if self.target is not None else ()) + self.extra

    def applies(self, C: int) -> bool:
        return self.classes == ANY or (self.classes == BINARY) == (C == 1)

    def variant(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.kwargs.items()) or "defaults"


def _region(name_is_dice: bool) -> tuple:
    multi = (Plan(MULTI, same=(pseg.DICE,), target=Target(pseg.DICE, 0.6)) if name_is_dice
             else Plan(MULTI, reference=(pseg.DICE,), target=Target(pseg.DICE, 0.6)))
    return (Plan(BINARY, {"batch": True}, target=Target(FLOORS, 4.0)),
            Plan(BINARY, target=Target(FLOORS, 6.0)),
            multi)


_BCE_SAME = (BCE_LOGITS, pseg.BCE)

PLANS = {
    "bce": (Plan(BINARY, same=_BCE_SAME, target=Target(BEST, 1.1)),
            Plan(MULTI, {"activation": "sigmoid"}, same=_BCE_SAME, target=Target(BEST, 1.1))),
    "cross_entropy": (Plan(MULTI, same=(CE_NCHW, CE_NHWC, pseg.CROSS_ENTROPY), target=Target(BEST, 1.0)),),
    "focal": (Plan(BINARY, same=(SIGMOID_FOCAL,), target=Target(SIGMOID_FOCAL, 0.5)),
              Plan(MULTI, {"activation": "sigmoid"}, same=(SIGMOID_FOCAL, pseg.FOCAL),
                   reference=(pseg.MULTI_CLASS_FOCAL,), target=Target(SIGMOID_FOCAL, 0.5))),
    "dice": _region(True),
    "jaccard": _region(False),
    "tversky": _region(False),
    "lovasz_softmax": (Plan(MULTI, {"batch": True}, same=(pseg.LOVASZ_SOFTMAX,),
                            target=Target(pseg.LOVASZ_SOFTMAX, 0.5)),
                       Plan(BINARY, {"batch": True}, reference=(pseg.LOVASZ_SOFTMAX_TWO,),
                            target=Target(pseg.LOVASZ_SOFTMAX_TWO, 0.5))),
    "lovasz_hinge": (Plan(BINARY, {"batch": True}, same=(pseg.LOVASZ_HINGE,),
                          target=Target(pseg.LOVASZ_HINGE, 0.5)),
                     Plan(MULTI, {"batch": True}, same=(pseg.LOVASZ_HINGE_PER_CLASS,),
                          target=Target(pseg.LOVASZ_HINGE_PER_CLASS, 0.5))),
    # PaddleSeg and nnU-Net select their pixels over the whole batch: batch=True
    "ohem_ce": (Plan(BINARY, {"batch": True}),
                Plan(MULTI, {"batch": True}, reference=(pseg.OHEM,), target=Target(pseg.OHEM, 1.0))),
    "topk_ce": (Plan(ANY, {"batch": True}),),
}
DEFAULT = (Plan(ANY),)

# Targets every plan of a family has besides its own (the family is the spec's).
FAMILY_TARGETS = {
    # the overlap losses hold a few fields next to the softmax and its gradient (issue 13)
    "region": (Target(PLAIN_FLOOR, 2.0, kind="memory"),),
}
# Losses whose distance maps the runtime computes in the call: at most half the time of the same
# loss with the maps of the per-image reference functions (SciPy, one image and class at a time).
MAP_TARGET = Target(REFERENCE_MAPS, 0.5)
MAP_LOSSES = ("boundary", "distance_map_ce", "hausdorff_dt", "log_hausdorff_dt", "shape_aware")

# Larger inputs, for the losses users train on volumes with (a full run adds these blocks).
SCALE_SHAPES = [(8, 4, 512, 512), (2, 4, 96, 96, 96)]
SCALE_LOSSES = ("cross_entropy", "dice", "focal", "hausdorff_dt", "jaccard", "lovasz_softmax", "tversky")


def plans_for(name: str, C: int, family: str | None = None) -> list[Plan]:
    """The plans of a loss at C classes, with its family's targets and the distance-map target added."""
    extra = FAMILY_TARGETS.get(family, ()) + ((MAP_TARGET,) if name in MAP_LOSSES else ())
    return [Plan(plan.classes, plan.kwargs, plan.same, plan.reference, plan.target, plan.extra + extra)
            for plan in PLANS.get(name, DEFAULT) if plan.applies(C)]


def floor_of(plan: Plan, C: int) -> str:
    """sum(softmax(x)*y) for a case whose activation is a softmax, sum(x*y) otherwise."""
    activation = plan.kwargs.get("activation", "auto")
    softmax = activation == "softmax" or (activation == "auto" and C > 1)
    return SOFTMAX_FLOOR if softmax else FLOOR

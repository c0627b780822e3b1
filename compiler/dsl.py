"""The spec author's namespace: everything a spec module imports, from one place.

`from symloss.compiler.dsl import Loss, Param, Sum, c, g, i, p, ref, ...`. The definitions live in
the frontend (language, claims, functions, primitives); this module only gathers them.
"""
from sympy import Abs, Interval, Max, Min, Rational, S, Symbol, cosh, exp, log, oo, sqrt, tanh  # noqa: F401

from .frontend.claims import Identity, Property  # noqa: F401
from .frontend.errors import SpecError  # noqa: F401
from .frontend.functions import Indicator, sigmoid, softplus  # noqa: F401
from .frontend.language import (  # noqa: F401
    COMMON_KEYWORDS, NAME_RE, AllClasses, C, Choice, ClassWeights, Loss, Mean, Param, Sum, background, c, foreground,
    g, i, n, p, ref, x,
)
from .frontend.primitives import (  # noqa: F401
    BoundaryWeight, ContourDistance, DistanceField, HausdorffErosion, LovaszWeights, NeighbourhoodPrimitive, OhemSelect,
    Primitive,
    SignedDistance, SoftDilate, SoftErode, SoftOpen, SoftSkeleton, TopPercent,
)

"""Distance-map penalised cross-entropy (Caliva et al., 2019): (1 + Phi)-weighted cross-entropy."""
from symloss.compiler.dsl import Loss, Property, c, g, i, log, p, ref
from symloss.compiler.dsl import BoundaryWeight

inside = BoundaryWeight(g[c, i])  # Phi of the class region
outside = BoundaryWeight(1 - g[c, i])  # Phi of its complement

LOSS = Loss(
    name="distance_map_ce",
    title="Distance-map cross-entropy",
    class_name="DistanceMapCELoss",
    family="distribution",
    paper="arXiv:1908.03679",
    summary="Binary cross-entropy per class and pixel, weighted by 1 + Phi: Phi is 1 at the target's "
            "boundary and falls to 0 at the deepest point of each region, so errors near edges cost up to twice.",
    params=[],
    expr=-((1 + inside) * g[c, i] * log(p[c, i]) + (1 + outside) * (1 - g[c, i]) * log(1 - p[c, i])),
    notes="Phi follows SegLoss's reading of Caliva et al.: per region (the class and its complement, per "
          "image), the Euclidean distance to the region's edge, inverted and divided by its maximum; 0 for an "
          "empty or full region. The loss is one-vs-rest per class (SegLoss's implementation is binary only). "
          "Ignored pixels belong to neither a region nor its complement: no edge lies at them, and distances "
          "run across them to the nearest valid pixel outside the region (so a map at the valid pixels does not "
          "depend on which pixels around it are ignored or on their values). Distance maps are constants of the "
          "gradient.",
    claims=[
        Property.le(ref("bce"), ref("distance_map_ce")),
        Property.le(ref("distance_map_ce"), 2 * ref("bce")),
        Property.nonnegative(),
        Property.zero_at_perfect(),
    ],
)

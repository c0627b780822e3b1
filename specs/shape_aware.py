"""Shape-aware loss (Al Arif et al., 2017): cross-entropy scaled by the distance between contours."""
from symloss.compiler.dsl import Loss, Property, c, g, i, p, ref
from symloss.compiler.dsl import ContourDistance

contour_gap = ContourDistance(p[c, i], g[c, i])  # E: mean distance from predicted to target contour

LOSS = Loss(
    name="shape_aware",
    title="Shape-aware",
    family="boundary",
    paper="doi:10.1007/978-3-319-74113-0_3",
    summary="Binary cross-entropy per class and pixel, scaled by 1 + E, E the mean distance (in pixels) "
            "from the predicted contour to the target contour of that class and image.",
    params=[],
    expr=(1 + contour_gap) * ref("bce"),
    notes="No public implementation exists; the survey writes L = -sum CE - sum E_i CE with E_i = D(C_hat, "
          "C_GT), the average point-to-curve distance. Choices made here: CE is the binary cross-entropy "
          "of each class (one-vs-rest); both terms are added with positive sign, so L = (1 + E) BCE; E is one "
          "number per image and class: the mean, over pixels of the predicted contour (prediction > 0.5), of "
          "the Euclidean distance to the nearest target-contour pixel; a contour pixel is a mask pixel with a "
          "face-neighbour outside the mask (the image border is not an edge); E = 0 when either contour is "
          "empty. Ignored pixels are neither inside nor outside either mask: a mask pixel next to one is not on the "
          "contour for that reason, and no ignored pixel is a contour pixel, so the logits at ignored pixels change "
          "neither the loss nor its gradient. E is a constant of the gradient.",
    claims=[
        Property.le(ref("bce"), ref("shape_aware")),
        Property.nonnegative(),
        Property.zero_at_perfect(),
    ],
)

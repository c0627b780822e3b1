"""Lovász-softmax (Berman, Rannen Triki and Blaschko, CVPR 2018), per image, in float64 NumPy.

Written from the paper's Algorithm 1 and the semantics of the authors' reference code
(bermanmaxim/LovaszSoftmax, `lovasz_softmax(..., classes="present", per_image=True)`): for each
image, drop the ignored pixels; for each class present in what is left, sort the pixels by error
|fg - p| descending, weigh the sorted errors by the increments of the Jaccard loss of the sorted
prefixes and sum; average over the present classes of the image; then average over the images.
Returns the loss and its gradient with respect to the probabilities (the sort is a constant).
"""
from __future__ import annotations

import numpy as np


def jaccard_increments(fg_sorted):
    """Increments of 1 - |fg \\ prefix-positives| / |fg U prefix| along a sorted class mask (Alg. 1)."""
    fg_sorted = np.asarray(fg_sorted, dtype=np.float64)
    positives = fg_sorted.sum()
    intersection = positives - np.cumsum(fg_sorted)
    union = positives + np.cumsum(1.0 - fg_sorted)
    jaccard = 1.0 - intersection / union
    return np.concatenate([jaccard[:1], np.diff(jaccard)])


def lovasz_softmax_per_image(probas, labels, ignore=255):
    """(loss, d loss / d probas) for probas (N, C, *spatial) in [0, 1] and labels (N, *spatial)."""
    probas = np.asarray(probas, dtype=np.float64)
    labels = np.asarray(labels)
    n, c = probas.shape[:2]
    flat = probas.reshape(n, c, -1)
    lab = labels.reshape(n, -1)
    grad = np.zeros_like(flat)
    image_losses = []
    for b in range(n):
        keep = lab[b] != ignore
        if not keep.any():
            image_losses.append((0.0, []))  # the reference's "only void pixels": 0, no gradient
            continue
        per_class = []
        for k in range(c):
            fg = (lab[b, keep] == k).astype(np.float64)
            if fg.sum() == 0:  # classes="present": an absent class is skipped
                continue
            p = flat[b, k, keep]
            errors = np.abs(fg - p)
            order = np.argsort(-errors, kind="stable")
            weights = np.empty_like(errors)
            weights[order] = jaccard_increments(fg[order])
            per_class.append((float(errors @ weights), k, keep, weights * np.sign(p - fg)))
        image_losses.append((np.mean([v for v, *_ in per_class]) if per_class else 0.0, per_class))
    loss = float(np.mean([v for v, _ in image_losses]))
    for b, (_, per_class) in enumerate(image_losses):
        for _, k, keep, d in per_class:
            grad[b, k, keep] += d / (len(per_class) * n)
    return loss, grad.reshape(probas.shape)

"""Synthetic segmentation data that ships as code: deterministic from a seed, no download.

Two binary tasks on single-channel slices, each image in [0, 1]-ish float32 with an int64 0/1 mask:

- ``skull``: an MR-like axial slice. Bright scalp, dark bone, a bright skull-marrow ring, a CSF gap
  that narrows and closes, then the brain (the mask): textured tissue with dark sulci at its edge
  and dark ventricles inside, a smooth multiplicative bias field and Rician-like noise. The brain is
  a deformed ellipse and the scalp is as bright as it, so a threshold cannot strip the skull; the
  mask's outline is offset from the image's by a smooth, invisible jitter of about a pixel (rater
  disagreement), so Dice saturates near the high 0.9s as on real data, not at 1.
- ``lesion``: the same brain texture with one to three small bright blobs (about 1% foreground) of
  low contrast; a task where distribution losses (BCE) and region losses (Dice) are known to differ.

Everything is NumPy/SciPy, so the data can be regenerated and inspected without Paddle.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

TASKS = ("skull", "lesion")


@dataclass(frozen=True)
class Split:
    """One split of a task: images (N, 1, H, W) float32 and masks (N, H, W) int64 in {0, 1}."""

    images: np.ndarray
    masks: np.ndarray

    def __len__(self) -> int:
        return len(self.images)


def _grid(size: int):
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    return (yy + 0.5) / size * 2 - 1, (xx + 0.5) / size * 2 - 1  # [-1, 1]


def _radius(rng, size, cy, cx, ay, ax, theta, n_harmonics=3, wobble=0.06):
    """Normalised elliptic radius with a random low-order angular wobble: <1 inside the shape."""
    y, x = _grid(size)
    dy, dx = y - cy, x - cx
    c, s = np.cos(theta), np.sin(theta)
    u, v = (c * dx + s * dy) / ax, (-s * dx + c * dy) / ay
    phi = np.arctan2(v, u)
    bump = 1.0
    for k in range(2, 2 + n_harmonics):
        bump = bump + wobble * rng.normal() / k * np.cos(k * phi + rng.uniform(0, 2 * np.pi))
    return np.hypot(u, v) / bump


def _smooth_field(rng, size, scale, amplitude):
    """A smooth random field: white noise blurred at `scale` (fraction of the image), unit-range scaled."""
    f = ndimage.gaussian_filter(rng.normal(size=(size, size)), sigma=max(scale * size, 0.5), mode="wrap")
    f = f / (np.abs(f).max() + 1e-12)
    return amplitude * f


def _rician(rng, clean, sigma):
    """Magnitude of a complex signal with Gaussian noise on both channels, as MR magnitude images are."""
    return np.hypot(clean + rng.normal(scale=sigma, size=clean.shape), rng.normal(scale=sigma, size=clean.shape))


def _angular(rng, size, cy, cx, k_max, amplitude):
    """A smooth random function of the polar angle around (cy, cx): sum of harmonics 1..k_max."""
    y, x = _grid(size)
    phi = np.arctan2(y - cy, x - cx)
    out = np.zeros_like(phi)
    for k in range(1, k_max + 1):
        out += rng.normal() / k * np.cos(k * phi + rng.uniform(0, 2 * np.pi))
    return amplitude * out / (np.abs(out).max() + 1e-12), phi


def _head(rng, size):
    """(image, brain mask) of one skull slice, before blur, bias and noise."""
    cy, cx = rng.uniform(-0.08, 0.08, size=2)
    ay, ax = rng.uniform(0.72, 0.86), rng.uniform(0.58, 0.72)
    theta = rng.uniform(-0.25, 0.25)
    r = _radius(rng, size, cy, cx, ay, ax, theta)
    # Layers, outside in (thresholds on the normalised radius): scalp, bone, marrow, bone, CSF, brain.
    # The CSF gap varies around the head and closes in places, so the brain may touch the bone.
    t_brain = rng.uniform(0.76, 0.82)
    gap, _ = _angular(rng, size, cy, cx, 4, 0.03)
    t_csf = t_brain + np.clip(rng.uniform(0.01, 0.04) + gap, 0.0, None)
    t_bone_in = t_csf + rng.uniform(0.03, 0.05)
    t_marrow = t_bone_in + rng.uniform(0.03, 0.05)
    t_bone_out = t_marrow + rng.uniform(0.02, 0.04)
    brain = r < t_brain
    img = np.zeros((size, size))
    img[r < 1.0] = rng.uniform(0.55, 0.75)                     # scalp / soft tissue: as bright as grey matter
    img[r < t_bone_out] = 0.08                                 # outer table (dark on T1)
    img[r < t_marrow] = rng.uniform(0.5, 0.8)                  # diploe (marrow, bright)
    img[r < t_bone_in] = 0.08                                  # inner table
    img[r < t_csf] = 0.15                                      # CSF
    tissue = 0.62 + _smooth_field(rng, size, 0.06, 0.10)       # grey/white matter texture
    # Sulci: dark CSF clefts cutting in from the brain's edge; they belong to the brain mask.
    depth, phi = _angular(rng, size, cy, cx, 6, 1.0)
    n_sulci = rng.integers(8, 14)
    clefts = np.cos(n_sulci * phi + 3 * depth) > 0.6
    sulci = clefts & (r > t_brain - rng.uniform(0.06, 0.12) * (1 + 0.5 * depth))
    tissue = np.where(sulci, 0.25, tissue)
    vy, vx = rng.uniform(-0.08, 0.08, size=2)
    vent = _radius(rng, size, cy + vy, cx + vx, rng.uniform(0.12, 0.22), rng.uniform(0.06, 0.12),
                   theta, wobble=0.15) < 1.0
    tissue = np.where(vent, 0.2, tissue)                       # ventricles (CSF, dark) are still brain
    img = np.where(brain, tissue, img)
    # The annotation: the brain outline, moved by a smooth random offset of up to about a pixel that
    # the image does not show (raters disagree by that much), so no model reaches Dice 1.
    jitter, _ = _angular(rng, size, cy, cx, 5, 1.2 * 2 / size / min(ax, ay))
    mask = r < t_brain + jitter
    return img, mask


def _finish(rng, img, size):
    """Blur to a finite resolution, apply a smooth bias field, add Rician noise, normalise."""
    img = ndimage.gaussian_filter(img, sigma=0.6)
    bias = np.exp(_smooth_field(rng, size, 0.35, 0.35))       # multiplicative, smooth, up to about +-40%
    img = _rician(rng, img * bias, sigma=rng.uniform(0.04, 0.08))
    return ((img - img.mean()) / (img.std() + 1e-8)).astype(np.float32)


def skull_slice(rng: np.random.Generator, size: int):
    """One (image, mask) pair of the skull-stripping task."""
    img, brain = _head(rng, size)
    return _finish(rng, img, size), brain.astype(np.int64)


def lesion_slice(rng: np.random.Generator, size: int):
    """One (image, mask) pair of the lesion task: 1 to 3 small low-contrast blobs inside the brain."""
    img, brain = _head(rng, size)
    inside = ndimage.binary_erosion(brain, iterations=max(2, size // 16))
    candidates = np.argwhere(inside)
    mask = np.zeros((size, size), dtype=bool)
    y, x = np.mgrid[0:size, 0:size]
    target = 0.01 * size * size                                # about 1% of the slice in total
    k = int(rng.integers(1, 4))
    for area in rng.dirichlet(np.ones(k)) * target * rng.uniform(0.7, 1.3):
        cy, cx = candidates[rng.integers(len(candidates))]
        rad = max(np.sqrt(area / np.pi), 1.0)
        ry, rx = rad * rng.uniform(0.75, 1.33), rad * rng.uniform(0.75, 1.33)
        mask |= ((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2 <= 1.0
    contrast = rng.uniform(0.12, 0.22)                         # about 2-4 noise sigmas: visible, not trivial
    img = img + contrast * ndimage.gaussian_filter(mask.astype(float), 0.7)
    return _finish(rng, img, size), mask.astype(np.int64)


def make_task(task: str, n: int, size: int, seed: int) -> Split:
    """`n` slices of `task` at `size` x `size`, deterministic from `seed`."""
    if task not in TASKS:
        raise ValueError(f"task got {task!r}; expected one of {', '.join(TASKS)}")
    make = skull_slice if task == "skull" else lesion_slice
    # One child generator per slice, so slice k is the same whatever n is.
    children = np.random.SeedSequence([seed, TASKS.index(task)]).spawn(n)
    pairs = [make(np.random.default_rng(child), size) for child in children]
    images = np.stack([p[0] for p in pairs])[:, None]
    masks = np.stack([p[1] for p in pairs])
    return Split(images, masks)


def make_splits(task: str, n: int, size: int, seed: int):
    """(train, val, test) in the survey's 60/20/20 proportions, from `n` slices."""
    data = make_task(task, n, size, seed)
    a, b = int(round(0.6 * n)), int(round(0.8 * n))
    return (Split(data.images[:a], data.masks[:a]), Split(data.images[a:b], data.masks[a:b]),
            Split(data.images[b:], data.masks[b:]))

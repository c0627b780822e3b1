"""Training one model with one loss, so that the loss is the only thing that differs between runs.

Every run of a seed starts from the same weights (`initial_state`), sees the same batches in the
same order (`batch_order`), and uses the same optimiser schedule: Adam with a cosine decay to 1/100
of the rate (the survey decayed Adam from 1e-3; we start at 3e-3 because our runs are a few hundred
steps, not tens of thousands). The final model is evaluated; there is no early stopping or model
selection, which would let the validation split leak into the comparison.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import paddle

from .data import Split
from .metrics import dice as dice_metric
from .model import UNet


@dataclass(frozen=True)
class TrainConfig:
    epochs: int
    batch_size: int = 16
    lr: float = 3e-3
    width: int = 8


def initial_state(seed: int, width: int, prior: float) -> dict:
    """The seed's initial weights (and BatchNorm buffers) as NumPy arrays, loaded by every loss's run.

    The output bias starts at logit(prior), the training set's foreground fraction (Lin et al.'s
    prior initialisation): with a zero bias every pixel starts at p = 1/2, and on a 1%-foreground
    task Adam spends most of a short run just moving the bias, which would measure the optimiser's
    start rather than the loss. The same start is used for every loss.
    """
    paddle.seed(seed)
    model = UNet(width=width)
    state = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    prior = min(max(prior, 1e-4), 1 - 1e-4)
    state["head.bias"][:] = math.log(prior / (1 - prior))
    return state


def batch_order(n: int, batch_size: int, seed: int, epoch: int) -> list:
    """Index batches of one epoch: a permutation fixed by (seed, epoch), independent of the loss."""
    perm = np.random.default_rng([seed, epoch]).permutation(n)
    return [perm[k:k + batch_size] for k in range(0, n, batch_size)]


def predict(model, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """Binary masks (N, H, W): logit > 0, i.e. sigmoid probability > 1/2."""
    model.eval()
    out = []
    with paddle.no_grad():
        for k in range(0, len(images), batch_size):
            logit = model(paddle.to_tensor(images[k:k + batch_size]))
            out.append(logit.numpy()[:, 0] > 0)
    model.train()
    return np.concatenate(out)


def mean_dice(model, split: Split) -> float:
    pred = predict(model, split.images)
    return float(np.mean([dice_metric(p, g.astype(bool)) for p, g in zip(pred, split.masks)]))


def train(loss_layer, state: dict, train_split: Split, val_split: Split, cfg: TrainConfig, seed: int,
          on_epoch=None):
    """Train a fresh U-Net from `state` with `loss_layer`; returns (model, history).

    history: `train_loss` (mean over the batches of each epoch), `val_dice` (after each epoch),
    `seconds`, and `status`: "ok", or "diverged" when the loss became NaN or infinite (training
    stops there). `on_epoch(epoch, train_loss, val_dice)` is called after each epoch (progress).
    """
    model = UNet(width=cfg.width)
    model.set_state_dict({k: paddle.to_tensor(v) for k, v in state.items()})
    steps = cfg.epochs * math.ceil(len(train_split) / cfg.batch_size)
    schedule = paddle.optimizer.lr.CosineAnnealingDecay(cfg.lr, T_max=steps, eta_min=cfg.lr * 1e-2)
    opt = paddle.optimizer.Adam(learning_rate=schedule, parameters=model.parameters())
    images, masks = train_split.images, train_split.masks
    history = {"train_loss": [], "val_dice": [], "status": "ok"}
    start = time.perf_counter()
    model.train()
    for epoch in range(cfg.epochs):
        total, count = 0.0, 0
        for idx in batch_order(len(images), cfg.batch_size, seed, epoch):
            loss = loss_layer(model(paddle.to_tensor(images[idx])), paddle.to_tensor(masks[idx]))
            value = float(loss)
            if not math.isfinite(value):
                history["status"] = "diverged"
                break
            loss.backward()
            opt.step()
            opt.clear_grad()
            schedule.step()
            total, count = total + value * len(idx), count + len(idx)
        if history["status"] != "ok":
            break
        history["train_loss"].append(total / count)
        history["val_dice"].append(mean_dice(model, val_split))
        if on_epoch is not None:
            on_epoch(epoch, history["train_loss"][-1], history["val_dice"][-1])
    history["seconds"] = time.perf_counter() - start
    return model, history

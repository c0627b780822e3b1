"""Data-parallel runs for tests/test_distributed.py (not a test module itself).

`python tests/_distributed_worker.py OUTDIR` starts 2 CPU processes with `paddle.distributed.spawn`
(backend "gloo"). Each rank holds half of every case's batch, runs the loss through a tiny float64
conv model wrapped in `paddle.DataParallel` (same initial weights on every rank), and writes
OUTDIR/rank<r>.npz with the loss values and the averaged parameter gradients. The test computes the
single-process reference on the whole batch with the same functions (`single`) and compares.
"""
import os
import sys

import numpy as np

WORLD = 2
N, C_IN, H, W = 4, 2, 6, 6  # the whole batch: N samples; each rank holds N // WORLD of them

# (case id, loss, its keywords besides batch/sync, classes, label kind)
CASES = [
    ("tversky", "tversky", {"alpha": 0.3, "beta": 0.7}, 3, "plain"),
    ("dice_no_background", "dice", {"include_background": False}, 3, "plain"),
    ("bce_binary", "bce", {}, 1, "plain"),
    ("combo", "combo", {}, 3, "plain"),
    ("tversky_ignored", "tversky", {}, 3, "ignored"),
    ("cross_entropy_ignored", "cross_entropy", {}, 3, "ignored"),
    ("bce_ignored", "bce", {}, 1, "ignored"),
    ("combo_ignored", "combo", {}, 3, "ignored"),  # a mean over the valid pixels inside a region loss
    ("cldice_ignored", "cldice", {}, 3, "ignored"),  # soft skeletons per image, their sums over the batch
    ("boundary", "boundary", {}, 3, "plain"),  # a signed distance map per image
    # DeepSupervision(TverskyLoss(...)) over the conv's output and two area-pooled copies (6x6, 3x3, 2x2)
    ("deep_supervision", "deep_supervision", {}, 3, "ignored"),
]
# Lovász-softmax syncs only its mean over samples (batch=False): per image the mean over its present
# classes, then over every rank's images; class 2 is absent from one image only.
LOVASZ_CASE = ("lovasz_present", "lovasz_softmax", {}, 3, "absent")

LOCAL_ONLY = ("lovasz_softmax", "topk_ce", "ohem_ce")  # losses that sort or select within a unit


def batch(case):
    """The whole batch of a case: input (N, C_IN, H, W) float64 and labels (N, H, W) int64."""
    cid, _, _, classes, kind = case
    rng = np.random.default_rng(sum(map(ord, cid)))  # a fixed seed per case
    x = rng.normal(size=(N, C_IN, H, W))
    y = rng.integers(0, max(classes, 2), size=(N, H, W))
    if kind == "ignored":
        y[rng.random(size=y.shape) < 0.3] = 255  # scattered ignored pixels everywhere
        y[N - 1] = 255  # and the last sample (on the last rank) wholly ignored
    if kind == "absent":
        y[1][y[1] == 2] = 0  # class 2 absent from sample 1 only
        y[rng.random(size=y.shape) < 0.2] = 255
    return x, y.astype(np.int64)


def model(paddle, classes):
    """A 3x3 conv, float64, with the same initial weights in every process."""
    conv = paddle.nn.Conv2D(C_IN, classes, 3, padding=1)
    conv.to(dtype="float64")
    rng = np.random.default_rng(classes)
    conv.weight.set_value(rng.normal(scale=0.5, size=conv.weight.shape))
    conv.bias.set_value(rng.normal(scale=0.1, size=conv.bias.shape))
    return conv


def loss_and_grads(paddle, case, x, y, data_parallel=False, **kw):
    """Loss value and parameter gradients (weight, bias) of the case's loss on (x, y)."""
    from symloss.paddle import FUNCTIONS, DeepSupervision, TverskyLoss

    _, name, params, classes, _ = case
    net = model(paddle, classes)
    run = paddle.DataParallel(net) if data_parallel else net
    logit = run(paddle.to_tensor(x))
    if name == "deep_supervision":
        pool = paddle.nn.functional.adaptive_avg_pool2d
        outputs = [logit, pool(logit, [3, 3]), pool(logit, [2, 2])]
        loss = DeepSupervision(TverskyLoss(**params, **kw))(outputs, paddle.to_tensor(y))
    else:
        loss = FUNCTIONS[name](logit, paddle.to_tensor(y), **params, **kw)
    loss.backward()
    return float(loss), net.weight.grad.numpy().copy(), net.bias.grad.numpy().copy()


def single(case, **kw):
    """The single-process result on the whole batch (the reference); runs in the caller's process."""
    import paddle

    x, y = batch(case)
    return loss_and_grads(paddle, case, x, y, **kw)


def rank_main(outdir):
    import paddle
    import paddle.distributed as dist

    dist.init_parallel_env()
    rank, world = dist.get_rank(), dist.get_world_size()
    assert world == WORLD, world
    half = slice(rank * N // WORLD, (rank + 1) * N // WORLD)
    out = {}
    for case in CASES:
        cid = case[0]
        x, y = batch(case)
        x, y = x[half], y[half]
        for key, kw in (
            ("sync", {"batch": True, "sync": True}),
            ("sync_per_sample", {"batch": False, "sync": True}),
            ("sync_sum", {"batch": True, "sync": True, "reduction": "sum"}),
            ("nosync", {"batch": True, "sync": False}),
        ):
            loss, gw, gb = loss_and_grads(paddle, case, x, y, data_parallel=True, **kw)
            out[f"{cid}/{key}/loss"] = np.array(loss)
            out[f"{cid}/{key}/weight"] = gw
            out[f"{cid}/{key}/bias"] = gb
    x, y = batch(LOVASZ_CASE)
    loss, gw, gb = loss_and_grads(
        paddle, LOVASZ_CASE, x[half], y[half], data_parallel=True, batch=False, sync=True
    )
    out.update({"lovasz_present/loss": np.array(loss), "lovasz_present/weight": gw, "lovasz_present/bias": gb})
    # A sort or a selection cannot span ranks: batch=True with sync=True must be refused, naming sync.
    from symloss.paddle import FUNCTIONS

    x, y = batch(CASES[0])
    logit = model(paddle, 3)(paddle.to_tensor(x[half]))
    for name in LOCAL_ONLY:
        try:
            FUNCTIONS[name](logit, paddle.to_tensor(y[half]), batch=True, sync=True)
            out[f"{name}_error"] = np.array("")
        except ValueError as e:
            out[f"{name}_error"] = np.array(str(e))
    np.savez(os.path.join(outdir, f"rank{rank}.npz"), **out)


if __name__ == "__main__":
    import paddle.distributed as dist

    dist.spawn(rank_main, args=(sys.argv[1],), nprocs=WORLD, backend="gloo")

"""Data parallel: 2 CPU processes (paddle.distributed.spawn, gloo), each holding half of the batch.

With batch=True and sync=True every rank computes exactly the single-process loss of the whole
batch, and after paddle.DataParallel's gradient averaging holds exactly its parameter gradients.
Without sync each rank computes its own half's loss (the documented behaviour).

The runs are in float64 (model and loss), so "exactly" means up to float64 reassociation: a rank
sums its half of each statistic and the halves are then added, instead of one sum over the batch.
Reordering a sum of n terms moves it by at most about n * eps64 of the sum of their magnitudes
(n <= 4 * 3 * 36 = 432 terms here: < 1e-13 relative); the few operations after the sums add a
few eps64 more. RTOL = 1e-12 is above that and four orders below float32 rounding (6e-8), and any
real mistake (a statistic left local, a mean divided by one rank's count) is O(1e-2) or more.

Deselect with `-m "not distributed"`. About 10 s on 2 cores.
"""
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

paddle = pytest.importorskip("paddle")

import _distributed_worker as worker  # noqa: E402

pytestmark = pytest.mark.distributed

RTOL = 1e-12  # float64 reassociation of the split sums; see the module docstring
WORKER = os.path.join(os.path.dirname(__file__), "_distributed_worker.py")
CASE_IDS = [case[0] for case in worker.CASES]
CASES = dict(zip(CASE_IDS, worker.CASES))


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    """Every rank's results: one spawn of 2 processes runs every case."""
    out = tmp_path_factory.mktemp("ranks")
    # its own process group, so that a hung run is ended with every rank it spawned
    proc = subprocess.Popen(
        [sys.executable, WORKER, str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=110)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        pytest.fail(f"2-process run did not finish in 110 s:\n{stdout[-3000:]}\n{stderr[-6000:]}")
    files = [out / f"rank{r}.npz" for r in range(worker.WORLD)]
    if proc.returncode != 0 or not all(f.exists() for f in files):
        pytest.fail(f"2-process run failed (exit {proc.returncode}):\n{stdout[-3000:]}\n{stderr[-6000:]}")
    return [dict(np.load(f)) for f in files]


def close(a, b):
    """Equal up to float64 reassociation, relative to the larger magnitude (absolute below it)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    scale = max(np.abs(a).max(), np.abs(b).max(), np.finfo(np.float64).tiny)
    np.testing.assert_allclose(a, b, rtol=0, atol=RTOL * scale)


def halves(case):
    x, y = worker.batch(case)
    step = worker.N // worker.WORLD
    return [(x[r * step : (r + 1) * step], y[r * step : (r + 1) * step]) for r in range(worker.WORLD)]


@pytest.mark.parametrize("cid", CASE_IDS)
def test_synchronised_batch_loss_and_gradients_equal_the_single_process_run(ranks, cid):
    loss, weight, bias = worker.single(CASES[cid], batch=True)
    for r, res in enumerate(ranks):
        close(res[f"{cid}/sync/loss"], loss)
        close(res[f"{cid}/sync/weight"], weight)
        close(res[f"{cid}/sync/bias"], bias)


@pytest.mark.parametrize(
    "key, kw",
    [("sync_per_sample", {"batch": False}), ("sync_sum", {"batch": True, "reduction": "sum"})],
    ids=["per_sample_mean", "batch_sum"],
)
@pytest.mark.parametrize("cid", CASE_IDS)
def test_synchronised_reductions_span_the_global_batch(ranks, cid, key, kw):
    """sync=True also makes batch=False's mean over samples, and reduction="sum", global."""
    loss, weight, bias = worker.single(CASES[cid], **kw)
    for res in ranks:
        close(res[f"{cid}/{key}/loss"], loss)
        close(res[f"{cid}/{key}/weight"], weight)
        close(res[f"{cid}/{key}/bias"], bias)


@pytest.mark.parametrize("cid", CASE_IDS)
def test_without_sync_each_rank_computes_its_own_half(ranks, cid):
    case = CASES[cid]
    parts = [worker.loss_and_grads(paddle, case, x, y, batch=True) for x, y in halves(case)]
    for r, res in enumerate(ranks):
        close(res[f"{cid}/nosync/loss"], parts[r][0])
        # paddle.DataParallel averages the ranks' gradients of their own halves' losses
        close(res[f"{cid}/nosync/weight"], np.mean([p[1] for p in parts], axis=0))
        close(res[f"{cid}/nosync/bias"], np.mean([p[2] for p in parts], axis=0))


@pytest.mark.parametrize("cid", CASE_IDS)
def test_sync_changes_what_a_rank_computes(ranks, cid):
    """Guards the comparisons above: the halves' losses differ from the whole batch's."""
    whole = worker.single(CASES[cid], batch=True)[0]
    own = [float(res[f"{cid}/nosync/loss"]) for res in ranks]
    assert max(abs(v - whole) for v in own) > 1e3 * RTOL * abs(whole)


def test_lovasz_softmax_mean_of_per_image_means_spans_the_ranks(ranks):
    loss, weight, bias = worker.single(worker.LOVASZ_CASE, batch=False)
    for res in ranks:
        close(res["lovasz_present/loss"], loss)
        close(res["lovasz_present/weight"], weight)
        close(res["lovasz_present/bias"], bias)


@pytest.mark.parametrize("name", worker.LOCAL_ONLY)
def test_sorts_and_selections_refuse_to_span_ranks(ranks, name):
    for res in ranks:
        message = str(res[f"{name}_error"])
        assert "sync" in message and "batch=True" in message and "cannot span" in message

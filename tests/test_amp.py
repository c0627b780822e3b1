"""Mixed precision: half-precision logits, and losses computed inside `paddle.amp.auto_cast`.

Every loss computes float16 / bfloat16 logits in float32 (README: "half precision is computed in
float32"), so its value must be the float32 loss of the rounded logits, and its gradient with
respect to the half logits that float32 gradient rounded once to the half dtype.

Tolerances:
- values: the half path casts the logits to float32 once and then runs the same float32
  operations on the same values as the float32 reference, so the two agree to float32 rounding.
  We allow 8 * eps32 (about 1e-6) relative to max(1, |loss|): a few ulps for a kernel that could
  reduce in another order, and still 1000 times finer than one float16 rounding (eps16 = 9.8e-4;
  bfloat16: 7.8e-3), so a loss that computed anything in half precision would fail.
- gradients: rounding a float32 gradient to the half dtype moves it by at most eps_half / 2 of its
  magnitude (plus the half dtype's smallest subnormal, for gradients that underflow); we allow
  eps_half, i.e. one half-precision ulp.

AMP on the CPU (Paddle 3.3.1): `paddle.amp.auto_cast`, `paddle.amp.decorate(level="O2")` and
`GradScaler` warn and do nothing there (only CUDA, XPU and custom devices are supported), and CPU
conv2d has no float16 / bfloat16 kernel. So the tiny model below ends with a cast to the AMP dtype
when its conv did not already produce it, which is what an AMP conv outputs on a GPU: the loss then
receives real half-precision logits inside the auto_cast block, exactly as in GPU training. On a GPU
the same test runs real O1 / O2 autocasting (the cast is then a no-op).
"""
import warnings

import numpy as np
import pytest

from registry_names import NAMES

paddle = pytest.importorskip("paddle")
from symloss.paddle import FUNCTIONS  # noqa: E402

pytestmark = [
    pytest.mark.filterwarnings("ignore:amp_guard can only be enabled:UserWarning"),
    pytest.mark.filterwarnings("ignore:AmpScaler can only be enabled:UserWarning"),
]

EPS32 = float(np.finfo(np.float32).eps)
VALUE_TOL = 8 * EPS32
HALF = {
    # dtype: (machine epsilon, smallest positive subnormal)
    "float16": (2.0**-10, 2.0**-24),
    "bfloat16": (2.0**-7, 2.0**-133),
}
LAYOUTS = {"binary": (2, 1, 6, 6), "multiclass": (2, 3, 6, 6)}


def data(layout, seed=0):
    n, c, *spatial = LAYOUTS[layout]
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 3.0, size=(n, c, *spatial)).astype(np.float32)
    y = rng.integers(0, max(c, 2), size=(n, *spatial))
    y[rng.random(size=y.shape) < 0.15] = 255  # some ignored pixels
    return x, paddle.to_tensor(y)


def is_dtype(t, name):
    return t.dtype == getattr(paddle, name)


def as_f32(t):
    return t.astype("float32").numpy().astype(np.float64)


def assert_value_close(half_loss, ref_loss):
    assert half_loss.dtype == paddle.float32, half_loss.dtype
    h, r = float(half_loss), float(ref_loss)
    assert np.isfinite(h) and np.isfinite(r)
    assert abs(h - r) <= VALUE_TOL * max(1.0, abs(r)), (h, r, abs(h - r))


def assert_rounded_gradient(half_grad, ref_grad, dtype):
    """half_grad is ref_grad (float32) rounded once to `dtype`."""
    eps, sub = HALF[dtype]
    assert is_dtype(half_grad, dtype), half_grad.dtype
    g, r = as_f32(half_grad), ref_grad.numpy().astype(np.float64)
    assert np.isfinite(g).all()
    assert np.all(np.abs(g - r) <= eps * np.abs(r) + sub), np.max(np.abs(g - r))


def reference(name, logit, y):
    """Loss and logit gradient in plain float32 (outside any auto_cast) on the given logits' values."""
    x32 = paddle.to_tensor(logit.detach().astype("float32").numpy())
    x32.stop_gradient = False
    loss = FUNCTIONS[name](x32, y)
    loss.backward()
    return loss, x32.grad


@pytest.mark.parametrize("dtype", sorted(HALF))
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("name", NAMES)
def test_half_logits_give_the_float32_loss_of_the_rounded_logits(name, layout, dtype):
    x, y = data(layout)
    logit = paddle.to_tensor(x).astype(dtype)
    logit.stop_gradient = False
    loss = FUNCTIONS[name](logit, y)
    loss.backward()
    ref_loss, ref_grad = reference(name, logit, y)
    assert_value_close(loss, ref_loss)
    assert_rounded_gradient(logit.grad, ref_grad, dtype)


class TinyNet(paddle.nn.Layer):
    """One 3x3 conv producing logits in the AMP dtype (see the module docstring for the cast)."""

    def __init__(self, classes, amp_dtype):
        super().__init__()
        self.conv = paddle.nn.Conv2D(2, classes, 3, padding=1)
        self.amp_dtype = amp_dtype

    def forward(self, x):
        logit = self.conv(x)
        if not is_dtype(logit, self.amp_dtype):
            logit = logit.astype(self.amp_dtype)
        return logit


@pytest.mark.parametrize("level", ["O1", "O2"])
@pytest.mark.parametrize("dtype", sorted(HALF))
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("name", NAMES)
def test_loss_inside_auto_cast(name, layout, dtype, level):
    n, c, *spatial = LAYOUTS[layout]
    _, y = data(layout)
    images = paddle.to_tensor(np.random.default_rng(1).normal(size=(n, 2, *spatial)).astype(np.float32))
    paddle.seed(0)
    net = TinyNet(c, dtype)
    if level == "O2":
        net = paddle.amp.decorate(models=net, level="O2", dtype=dtype)
    with paddle.amp.auto_cast(level=level, dtype=dtype):
        logit = net(images)
        logit.retain_grads()
        loss = FUNCTIONS[name](logit, y)  # inside the block, as in a training step
    assert is_dtype(logit, dtype), logit.dtype
    loss.backward()
    ref_loss, ref_grad = reference(name, logit, y)
    assert_value_close(loss, ref_loss)
    assert_rounded_gradient(logit.grad, ref_grad, dtype)
    for p in net.parameters():
        g = as_f32(p.grad)
        assert np.isfinite(g).all(), p.name
    if np.abs(as_f32(ref_grad)).max() > 0:  # (kornia's erosion loss is flat where no error survives a step)
        assert np.abs(as_f32(net.conv.weight.grad)).max() > 0


@pytest.mark.parametrize("name", ["tversky", "bce", "lovasz_softmax", "hausdorff_dt"])
def test_a_training_step_with_grad_scaler_as_amp_users_write_it(name):
    """The usual O2 step (decorate, auto_cast, GradScaler) with no explicit cast in the model: on
    the CPU Paddle turns every AMP piece off (with a warning) and the step is a float32 step; on a
    GPU it is a real bfloat16 step. Either way the loss is float32, finite and the step updates."""
    _, y = data("multiclass")
    images = paddle.to_tensor(np.random.default_rng(1).normal(size=(2, 2, 6, 6)).astype(np.float32))
    paddle.seed(0)
    net = paddle.nn.Conv2D(2, 3, 3, padding=1)
    opt = paddle.optimizer.SGD(learning_rate=0.1, parameters=net.parameters())
    net, opt = paddle.amp.decorate(models=net, optimizers=opt, level="O2", dtype="bfloat16")
    scaler = paddle.amp.GradScaler(init_loss_scaling=1024)
    before = as_f32(net.weight)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        with paddle.amp.auto_cast(level="O2", dtype="bfloat16"):
            loss = FUNCTIONS[name](net(images), y)
        assert loss.dtype == paddle.float32 and np.isfinite(float(loss))
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
    after = as_f32(net.weight)
    assert np.isfinite(after).all() and not np.array_equal(after, before)

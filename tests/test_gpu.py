"""On a GPU every loss runs on Paddle ops on the device (no host round trip for the Lovasz sort or the
distance maps), and gives the CPU's value and gradient: tested on a CUDA device where there is one
(skipped otherwise), and everywhere by forcing those device paths on the CPU."""
import numpy as np
import pytest

paddle = pytest.importorskip("paddle")

from symloss.paddle import FUNCTIONS  # noqa: E402

HAS_GPU = paddle.device.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0
needs_gpu = pytest.mark.skipif(not HAS_GPU, reason="no CUDA device")

CASES = [(name, classes) for name in sorted(FUNCTIONS) for classes in (1, 3)
         if not (name == "cross_entropy" and classes == 1) and not (name == "lovasz_softmax" and classes == 1)]


def _inputs(classes, dtype):
    rng = np.random.default_rng(classes)
    x = rng.normal(0, 2, size=(2, classes, 9, 10)).astype(dtype)
    y = rng.integers(0, max(classes, 2), size=(2, 9, 10))
    y[0, :2] = 255  # ignored pixels
    return x, y


def _run(name, x, y, place):
    logit = paddle.to_tensor(x, place=place, stop_gradient=False)
    loss = FUNCTIONS[name](logit, paddle.to_tensor(y, place=place))
    loss.backward()
    return loss, logit.grad


@pytest.fixture
def on_gpu():
    previous = paddle.device.get_device()
    paddle.device.set_device("gpu:0")  # tensors a loss creates itself land on the device too
    yield paddle.CUDAPlace(0)
    paddle.device.set_device(previous)


@needs_gpu
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name, classes", CASES)
def test_loss_stays_on_the_device_and_equals_the_cpu_result(name, classes, dtype, on_gpu):
    x, y = _inputs(classes, dtype)
    loss, grad = _run(name, x, y, on_gpu)
    assert loss.place.is_gpu_place() and grad.place.is_gpu_place()
    paddle.device.set_device("cpu")
    expected_loss, expected_grad = _run(name, x, y, paddle.CPUPlace())
    tol = dict(rtol=2e-4, atol=1e-6) if dtype == "float32" else dict(rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(float(loss), float(expected_loss), **tol)
    np.testing.assert_allclose(grad.numpy(), expected_grad.numpy(), **tol)


@needs_gpu
def test_no_host_copy_of_the_fields_on_the_device(on_gpu, monkeypatch):
    """The NumPy paths (Lovasz sort, distance maps, class counts) read tensors through _host_array:
    on the device it is never called."""
    from symloss.paddle import _runtime

    def refuse(tensor):
        raise AssertionError("a loss on the GPU copied a field to the host")

    monkeypatch.setattr(_runtime, "_host_array", refuse)
    for name, classes in CASES:
        x, y = _inputs(classes, "float32")
        _run(name, x, y, on_gpu)


@pytest.mark.parametrize("name, classes", CASES)
def test_device_paths_on_the_cpu_equal_the_host_paths(name, classes, monkeypatch):
    """The paths a GPU takes (Paddle ops only: stable argsort, graph distance maps, one-hot sums),
    forced on the CPU, give the host paths' value and gradient; runs everywhere."""
    from symloss.paddle import _runtime

    x, y = _inputs(classes, "float64")
    expected_loss, expected_grad = _run(name, x, y, paddle.CPUPlace())

    def refuse(tensor):
        raise AssertionError("the device path copied a field to the host")

    monkeypatch.setattr(_runtime.Context, "_eager_cpu", lambda self: False)
    monkeypatch.setattr(_runtime, "_host_array", refuse)
    loss, grad = _run(name, x, y, paddle.CPUPlace())
    np.testing.assert_allclose(float(loss), float(expected_loss), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grad.numpy(), expected_grad.numpy(), rtol=1e-9, atol=1e-12)

"""Calling a loss the way training does: the value and the gradient of its sum with respect to the logits."""
import numpy as np


def value_and_grad(function, x, y, dtype="float64", **kw) -> tuple[np.ndarray, np.ndarray]:
    """(loss, d sum(loss) / d logit) of `function(x, y, **kw)`, the logits cast to `dtype`."""
    import paddle

    xt = paddle.to_tensor(x, dtype=dtype, stop_gradient=False)
    out = function(xt, paddle.to_tensor(y), **kw)
    out.sum().backward()
    return out.numpy(), xt.grad.numpy()

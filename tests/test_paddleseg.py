"""PaddleSeg: symloss losses named in a PaddleSeg YAML config, through `register()`.

A tiny PaddleSeg model (PPHumanSegLite) is built from a YAML file by PaddleSeg's own Config and
SegBuilder, so `type: TverskyLoss` with its keywords is resolved through PaddleSeg's loss registry,
inside a MixedLoss next to one of PaddleSeg's own losses (LovaszSoftmaxLoss). A few training steps on
a tiny in-memory dataset must give finite, decreasing losses, and no loss may write into the labels
(PaddleSeg's own DiceLoss does, which breaks MixedLoss; symloss losses must not).

Needs paddleseg (see .ci/run: `pip install --no-deps paddleseg==2.8.0` plus the few modules its
import needs); skipped where it is absent, unless SYMLOSS_REQUIRE_PADDLESEG=1 (CI), where a missing
or broken paddleseg is a failure.
"""
import os
import warnings

import numpy as np
import pytest

from registry_names import NAMES

paddle = pytest.importorskip("paddle")
if os.environ.get("SYMLOSS_REQUIRE_PADDLESEG"):
    import paddleseg  # noqa: F401  (CI: fail loudly rather than skip)
else:
    pytest.importorskip("paddleseg", reason="paddleseg is not installed (see .ci/run)")

from paddleseg.core.train import loss_computation  # noqa: E402
from paddleseg.cvlibs import Config, SegBuilder, manager  # noqa: E402

import symloss.paddle as sp  # noqa: E402
from symloss.paddle.paddleseg import register  # noqa: E402

SIZE = 32
STEPS = 8

CONFIG = f"""\
batch_size: 4
iters: {STEPS}

train_dataset:
  type: SymlossTinySquares
  num_samples: 4
  size: {SIZE}
  mode: train

model:
  type: PPHumanSegLite
  num_classes: 2

optimizer:
  type: Adam

lr_scheduler:
  type: PolynomialDecay
  learning_rate: 0.01
  end_lr: 0.001
  power: 0.9

loss:
  types:
    - type: MixedLoss
      losses:
        - type: LovaszSoftmaxLoss    # PaddleSeg's own
        - type: TverskyLoss          # symloss, under its own name (PaddleSeg has no TverskyLoss)
          alpha: 0.3
          beta: 0.7
        - type: SymlossDiceLoss      # symloss, prefixed (PaddleSeg has a DiceLoss of its own)
          smooth: 1.0
          include_background: false
      coef: [1.0, 1.0, 0.5]
  coef: [1]
"""


class SymlossTinySquares(paddle.io.Dataset):
    """Noisy 3-channel images of one bright square (class 1) on background (class 0); the first row is
    ignored (255). Made in memory: no files on disk. Samples are dicts, as PaddleSeg's datasets give."""

    NUM_CLASSES = 2
    IMG_CHANNELS = 3
    IGNORE_INDEX = 255

    def __init__(self, num_samples=4, size=32, mode="train"):
        rng = np.random.default_rng(0)
        self.samples = []
        for _ in range(num_samples):
            label = np.zeros((size, size), dtype=np.int64)
            r, c = rng.integers(2, size // 2, size=2)
            label[r : r + size // 3, c : c + size // 3] = 1
            image = (rng.normal(0.0, 0.5, size=(3, size, size)) + label[None]).astype(np.float32)
            label[0, :] = self.IGNORE_INDEX
            self.samples.append({"img": image, "label": label})

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, k):
        return dict(self.samples[k])


if "SymlossTinySquares" not in manager.DATASETS.components_dict:
    manager.DATASETS.add_component(SymlossTinySquares)


@pytest.fixture(scope="module")
def added():
    """PaddleSeg's own losses before register(), and the names register() added."""
    own = dict(manager.LOSSES.components_dict)
    return own, register()


@pytest.fixture(scope="module")
def builder(added, tmp_path_factory):
    path = tmp_path_factory.mktemp("pseg") / "tiny.yml"
    path.write_text(CONFIG, encoding="utf-8")
    return SegBuilder(Config(str(path)))


def test_register_adds_every_loss_without_replacing_paddleseg_losses(added):
    own, names = added
    for cls in sp.LOSSES.values():
        prefixed = "Symloss" + cls.__name__
        assert prefixed in names and issubclass(manager.LOSSES[prefixed], cls)
        if cls.__name__ in own:  # PaddleSeg's loss of that name stays
            assert manager.LOSSES[cls.__name__] is own[cls.__name__] and cls.__name__ not in names
        else:
            assert manager.LOSSES[cls.__name__] is cls and cls.__name__ in names
    assert manager.LOSSES["DiceLoss"].__module__.startswith("paddleseg.")
    assert manager.LOSSES["TverskyLoss"] is sp.TverskyLoss
    assert manager.LOSSES["ComboLoss"] is sp.ComboLoss
    assert register() == []  # registering twice is harmless and adds nothing


def test_yaml_config_resolves_symloss_losses_with_their_keywords(builder):
    losses = builder.loss
    (mixed,) = losses["types"]
    assert type(mixed).__name__ == "MixedLoss" and losses["coef"] == [1]
    lovasz, tversky, dice = mixed.losses
    assert type(lovasz).__module__.startswith("paddleseg.")
    assert type(tversky) is sp.TverskyLoss
    assert (tversky.alpha, tversky.beta) == (0.3, 0.7)
    assert isinstance(dice, sp.DiceLoss) and dice.include_background is False
    # PaddleSeg's config checker hands the dataset's ignore_index to every loss
    assert tversky.ignore_index == dice.ignore_index == SymlossTinySquares.IGNORE_INDEX
    # the built layer computes the loss the YAML asked for
    rng = np.random.default_rng(1)
    logit = paddle.to_tensor(rng.normal(size=(2, 2, 8, 8)).astype(np.float32))
    label = paddle.to_tensor(rng.integers(0, 2, size=(2, 8, 8)))
    assert float(tversky(logit, label)) == float(sp.tversky_loss(logit, label, alpha=0.3, beta=0.7))


def test_training_steps_decrease_the_mixed_loss_and_leave_labels_untouched(builder):
    paddle.seed(0)
    model, losses, optimizer = builder.model, builder.loss, builder.optimizer
    loader = paddle.io.DataLoader(builder.train_dataset, batch_size=4, shuffle=False)
    model.train()
    history = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for step in range(STEPS):
            for data in loader:
                images, labels = data["img"], data["label"].astype("int64")
                before, version = labels.numpy().copy(), labels._inplace_version()
                loss_list = loss_computation(model(images), labels, None, losses)
                np.testing.assert_array_equal(labels.numpy(), before)
                assert labels._inplace_version() == version
                loss = sum(loss_list)
                loss.backward()
                optimizer.step()
                optimizer.clear_grad()
                builder.lr_scheduler.step()
                history.append([float(v) for v in loss_list])
    history = np.array(history)  # steps x (lovasz, tversky, dice)
    assert np.isfinite(history).all()
    total = history.sum(axis=1)
    assert total[-1] < 0.9 * total[0], total
    assert history[-1, 1] < history[0, 1] and history[-1, 2] < history[0, 2], history


@pytest.mark.parametrize("name", NAMES)
def test_every_registered_loss_leaves_its_inputs_untouched(added, name):
    """Built by PaddleSeg's builder from its registry name, each symloss loss writes into neither
    the labels (values and in-place version) nor the logits: safe in any MixedLoss position."""
    cls = sp.LOSSES[name]
    from paddleseg.cvlibs.builder import Builder

    builder = Builder(config=None, comp_list=[manager.LOSSES])  # what SegBuilder builds losses with
    loss_layer = builder.build_component({"type": "Symloss" + cls.__name__, "ignore_index": 255})
    assert isinstance(loss_layer, cls)
    rng = np.random.default_rng(2)
    logit = paddle.to_tensor(rng.normal(size=(2, 3, 6, 6)).astype(np.float32))
    logit.stop_gradient = False
    label = paddle.to_tensor(rng.integers(0, 3, size=(2, 1, 6, 6)))
    label[0, 0, 0] = 255
    saved = label.numpy().copy(), logit.numpy().copy()
    versions = label._inplace_version(), logit._inplace_version()
    loss_layer(logit, label).backward()
    np.testing.assert_array_equal(label.numpy(), saved[0])
    np.testing.assert_array_equal(logit.numpy(), saved[1])
    assert (label._inplace_version(), logit._inplace_version()) == versions
    assert np.isfinite(logit.grad.numpy()).all()


def test_deep_supervision_from_a_config_wraps_a_nested_loss(added):
    """`type: DeepSupervision` with the loss as a nested config, as PaddleSeg's builder resolves it, for a
    model whose training forward returns one list of outputs; PaddleSeg hands it the dataset's ignore_index."""
    from paddleseg.cvlibs.builder import Builder

    assert "DeepSupervision" in added[1] and manager.LOSSES["DeepSupervision"] is sp.DeepSupervision
    builder = Builder(config=None, comp_list=[manager.LOSSES])
    loss = builder.build_component({"type": "DeepSupervision", "weights": "nnunet", "ignore_index": 255,
                                    "loss": {"type": "SymlossDiceLoss", "include_background": False}})
    assert isinstance(loss, sp.DeepSupervision) and isinstance(loss.loss, sp.DiceLoss)
    assert loss.loss.include_background is False and loss.weights == "nnunet"
    rng = np.random.default_rng(3)
    outputs = [paddle.to_tensor(rng.normal(size=(2, 3, s, s))) for s in (8, 4, 2)]
    label = paddle.to_tensor(rng.integers(0, 3, size=(2, 8, 8)))
    (value,) = loss_computation([outputs], label, None, {"types": [loss], "coef": [1.0]})
    small = paddle.to_tensor(label.numpy()[:, 1::2, 1::2])  # nearest neighbour at pixel centres
    expected = 2 / 3 * sp.dice_loss(outputs[0], label, include_background=False) + 1 / 3 * sp.dice_loss(
        outputs[1], small, include_background=False)
    np.testing.assert_allclose(float(value), float(expected), rtol=1e-12)

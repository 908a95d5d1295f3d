"""dcgan: seed 002's networks, class-conditional generation, determinism, resume, bad input
(tiny profile: 16 px, 1-2 epochs of 1-2 steps)."""

from __future__ import annotations

import numpy as np
import pytest

import tensorflow  # noqa: F401  (required: a broken install fails, it is not skipped)

from augkit.errors import DataError, ModelError, UsageError  # noqa: E402
from augkit.sample import Provenance, Sample  # noqa: E402
from augkit_dcgan.generator import DCGAN  # noqa: E402
from augkit_dcgan.profiles import get_profile  # noqa: E402


def make_samples(num=6, *, shape=(20, 24), channels=3, dtype=np.uint8, labels=("G2", "G3"), seed=0):
    rng = np.random.default_rng(seed)
    top = 255 if dtype == np.uint8 else 3000
    out = []
    for i in range(num):
        image = rng.integers(0, top // 4, (*shape, channels)).astype(dtype)
        label = None if labels is None else labels[i % len(labels)]
        if i % 2 == 0:  # a difference the classes share with their labels
            image[: shape[0] // 2] = top - 5
        out.append(Sample(image, Provenance(f"toy{seed}-{i}"), label=label))
    return out


@pytest.fixture(scope="module")
def conditional(tmp_path_factory):
    ckpt = tmp_path_factory.mktemp("ckpt")
    model = DCGAN("tiny", seed=3)
    history = model.fit(make_samples(), epochs=2, seed=0, checkpoint_dir=ckpt, progress=False)
    return model, history, ckpt


def test_registered_through_entry_point():
    from augkit.registry.host import get_generator

    assert get_generator("dcgan") is DCGAN
    assert DCGAN.tasks == {"classification", "unconditional"}


def test_paper_profile_is_seed_002():
    from augkit_dcgan.model import DCGANDiscriminator, DCGANGenerator

    p = get_profile("paper")
    assert (p.size, p.block_width, p.up_widths, p.discriminator_widths) == (128, 1024, [128] * 5, [128] * 5)
    assert (p.learning_rate, p.beta_1, p.leaky_slope, p.dropout, p.batch_size) == (2e-4, 0.5, 0.02, 0.4, 256)
    assert get_profile("paper", size=64).num_up_blocks == 4 and get_profile("paper", size=256).num_up_blocks == 6
    d = DCGANDiscriminator(size=128, widths=p.discriminator_widths)
    out = d([np.zeros((1, 128, 128, 3), np.float32), np.zeros((1,), np.int32)])
    assert tuple(out.shape) == (1, 1)
    assert [(c.kernel_size, c.strides, c.filters) for c in d.convs] == [((4, 4), (2, 2), 128)] * 5
    g = DCGANGenerator(size=128, num_channels=3, latent_dim=100, block_width=1024, up_widths=p.up_widths)
    image = g([np.zeros((2, 100), np.float32), np.zeros((2,), np.int32)])
    assert tuple(image.shape) == (2, 128, 128, 3)
    assert g.project.units == 4 * 4 * 1024


def test_conditional_model_makes_the_labels_asked_for(conditional):
    model, history, _ = conditional
    assert model.spec.classes == ("G2", "G3")
    assert {"d_loss", "g_loss", "d_real_acc", "d_fake_acc"} <= set(history)
    out = list(model.generate(4, seed=1, conditions=["G3", "G2"]))
    assert [s.label for s in out] == ["G3", "G2", "G3", "G2"]
    assert [s.provenance.params["label"] for s in out] == ["G3", "G2", "G3", "G2"]
    cycled = list(model.generate(4, seed=1))  # no conditions: classes take turns
    assert [s.label for s in cycled] == ["G2", "G3", "G2", "G3"]
    parent = make_samples(1, labels=("G3",))[0]
    child = next(iter(model.generate(1, seed=1, conditions=[parent])))
    assert child.label == "G3" and child.provenance.parent_id == parent.id


def test_unknown_labels_are_refused(conditional):
    model, _, _ = conditional
    with pytest.raises(UsageError, match=r"label 'G4' is not one the model was trained on \(\['G2', 'G3'\]\)"):
        model.generate(1, seed=0, conditions=["G4"])


def test_unconditional_model_keeps_dtype_channels_and_size_and_refuses_labels():
    plain = DCGAN("tiny", seed=0)
    plain.fit(make_samples(4, shape=(18, 30), channels=1, dtype=np.uint16, labels=None), epochs=1,
              progress=False)
    assert plain.spec.classes == ()
    s = next(iter(plain.generate(1, seed=0)))
    assert s.label is None and s.image.shape == (18, 30, 1) and s.image.dtype == np.uint16
    with pytest.raises(UsageError, match="unconditional"):
        plain.generate(1, seed=0, conditions=["G2"])


def test_a_sample_depends_on_seed_and_index_not_on_the_batch(conditional):
    model, _, _ = conditional
    one_by_one = list(model.generate(4, seed=9, conditions=["G2"], batch_size=1))
    together = list(model.generate(4, seed=9, conditions=["G2"], batch_size=4))
    for a, b in zip(one_by_one, together):
        assert np.abs(a.image.astype(int) - b.image.astype(int)).max() <= 1
    assert not np.array_equal(one_by_one[0].image, one_by_one[1].image)


def test_training_is_deterministic_and_resumes_where_it_stopped(conditional, tmp_path, epochs_run):
    model, history, ckpt = conditional
    # stop after 1 epoch, then a new model resumes from the checkpoint folder: the same losses
    # and weights as the fixture's straight 2-epoch run (golden determinism)
    first = DCGAN("tiny", seed=3)
    first.fit(make_samples(), epochs=1, seed=0, checkpoint_dir=tmp_path, progress=False)
    stopped = first.history["seconds"]
    resumed = DCGAN("tiny", seed=3)
    epochs_run.clear()
    resumed_history = resumed.fit(make_samples(), epochs=2, seed=0, checkpoint_dir=tmp_path, progress=False)
    assert resumed.epochs_trained == 2
    assert len(epochs_run) == 1  # epoch 1 came from the checkpoint, only epoch 2 was trained
    assert resumed_history["seconds"][:1] == stopped  # the stopped run's own record, not a redo
    assert resumed_history["g_loss"] == history["g_loss"]
    assert resumed_history["d_loss"] == history["d_loss"]
    assert resumed.checkpoint_hash == model.checkpoint_hash
    assert (ckpt / "history.csv").is_file() and (ckpt / "losses.png").is_file()
    assert (ckpt / "samples" / "epoch-0002.png").is_file()
    with pytest.raises(ModelError, match="seed=0"):
        DCGAN("tiny", seed=3).fit(make_samples(), epochs=3, seed=1, checkpoint_dir=tmp_path, progress=False)


@pytest.mark.parametrize("samples, words", [
    (make_samples(1), "at least 2"),
    (make_samples(2) + make_samples(1, labels=None, seed=5), "has no label while others"),
    (make_samples(2) + make_samples(1, channels=1, seed=5), "1-channel"),
])
def test_bad_training_data_gets_one_clear_message(samples, words):
    with pytest.raises(DataError, match=words) as info:
        DCGAN("tiny").fit(samples, epochs=1, progress=False)
    assert "\n" not in str(info.value)


def test_bad_settings_and_untrained_use_are_refused():
    with pytest.raises(UsageError, match="unknown dcgan profile 'huge'"):
        DCGAN("huge")
    with pytest.raises(UsageError, match="unknown dcgan setting"):
        DCGAN("tiny", widht=2)
    with pytest.raises(UsageError, match="power of two"):
        DCGAN("tiny", size=48)
    with pytest.raises(ModelError, match="not trained"):
        DCGAN("tiny").generate(1, seed=0)


def test_pad_resample_puts_the_pixels_themselves_into_the_network():
    samples = make_samples(4, shape=(12, 12), channels=1)
    model = DCGAN("tiny", seed=0, resample="pad")
    model.fit(samples, epochs=1, progress=False)
    images, _ = model._arrays(samples)
    unit = model.spec.to_unit(samples[0].image)
    assert images.shape[1:3] == (16, 16)
    assert np.array_equal(images[0, 2:14, 2:14], unit)  # not resampled
    assert np.array_equal(images[0, 0, 2:14], unit[0]) and np.array_equal(images[0, 2:14, 15], unit[:, -1])
    out = next(iter(model.generate(1, seed=0)))
    assert out.image.shape == (12, 12, 1) and out.image.dtype == np.uint8
    with pytest.raises(UsageError, match="no larger than 16×16"):
        DCGAN("tiny", resample="pad").fit(make_samples(4, shape=(20, 24)), epochs=1, progress=False)
    with pytest.raises(UsageError, match="resample"):
        DCGAN("tiny", resample="crop")

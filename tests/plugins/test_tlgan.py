"""tlgan: seed 000's generator against a frozen backbone; backbone weights only from a file the
user names, with one clear message for each way that goes wrong (tiny profile, MobileNetV2
alpha 0.35 at 32 px)."""

from __future__ import annotations

import numpy as np
import pytest

import tensorflow  # noqa: F401  (required: a broken install fails, it is not skipped)

import keras  # noqa: E402

from augkit.errors import DataError, ModelError, UsageError  # noqa: E402
from augkit.sample import Provenance, Sample  # noqa: E402
from augkit_tlgan.generator import TLGAN  # noqa: E402
from augkit_tlgan.profiles import get_profile  # noqa: E402


def make_samples(num=4, *, channels=1, labels=None, shape=(20, 20)):
    rng = np.random.default_rng(0)
    out = []
    for i in range(num):
        image = rng.integers(0, 80, (*shape, channels)).astype(np.uint8)
        image[4:12, 4:12] = 230
        label = None if labels is None else labels[i % len(labels)]
        out.append(Sample(image, Provenance(f"t{i}"), label=label))
    return out


def tiny_backbone(factory=keras.applications.MobileNetV2, alpha=0.35):
    return factory(include_top=False, weights=None, input_shape=(32, 32, 3), alpha=alpha)


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    """A MobileNetV2 (alpha 0.35) weights file, standing in for the ImageNet notop file."""
    backbone = tiny_backbone()
    path = tmp_path_factory.mktemp("weights") / "mobilenet_v2_tiny.weights.h5"
    backbone.save_weights(path)
    return path, [np.array(w) for w in backbone.weights]


def _backbone_of(model: TLGAN):
    return model._gan.discriminator.backbone


def test_registered_and_paper_profile_is_seed_000():
    from augkit.registry.host import get_generator

    assert get_generator("tlgan") is TLGAN
    p = get_profile("paper")
    assert (p.backbone, p.num_levels, p.level_widths, p.head_units) == \
        ("xception", 6, [512, 256, 128, 64, 32, 16], 0)
    assert p.discriminator_size == 256 and get_profile("paper", size=64).discriminator_size == 71


def test_without_weights_it_refuses_and_says_where_to_get_them():
    with pytest.raises(UsageError) as info:
        TLGAN("paper")
    message = str(info.value)
    assert "xception_weights_tf_dim_ordering_tf_kernels_notop.h5" in message
    assert "backbone_weights=PATH" in message and "random_backbone=True" in message
    assert "\n" not in message
    with pytest.raises(UsageError, match="mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_96_no_top.h5"):
        TLGAN("cpu")


@pytest.fixture(scope="module")
def trained(weights_file, tmp_path_factory):
    """One conditional grayscale model whose backbone weights come from a copy of the file."""
    source, _ = weights_file
    path = tmp_path_factory.mktemp("copy") / "copy.weights.h5"
    path.write_bytes(source.read_bytes())
    model = TLGAN("tiny", seed=2, backbone_weights=path)
    model.fit(make_samples(6, labels=("a", "b")), epochs=1, progress=False)
    return model, path


def test_backbone_weights_are_loaded_from_the_named_file_and_stay_frozen(trained, weights_file):
    model, path = trained
    _, expected = weights_file
    backbone = _backbone_of(model)
    assert all(np.array_equal(np.array(w), e) for w, e in zip(backbone.weights, expected))
    assert not backbone.trainable
    head = model._gan.discriminator.trainable_weights
    # pooling + one dense unit (1280 features + bias) + the class projection (2 × 1280)
    assert sum(int(np.prod(w.shape)) for w in head) == 1280 + 1 + 2 * 1280
    assert model.get_config()["backbone_weights"] == str(path)


def test_legacy_h5_weights_like_the_imagenet_files_load_too(tmp_path):
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    from augkit_tlgan.backbones import BACKBONES, build_backbone

    backbone = tiny_backbone()
    path = tmp_path / "mobilenet_v2_weights_notop.h5"
    with h5py.File(path, "w") as fh:
        legacy_h5_format.save_weights_to_hdf5_group(fh, backbone)
    loaded = build_backbone(BACKBONES["mobilenet_v2"], size=32, alpha=0.35, weights=path)
    assert all(np.array_equal(np.array(w), np.array(e)) for w, e in zip(loaded.weights, backbone.weights))
    assert not loaded.trainable


@pytest.mark.parametrize("factory, alpha", [(keras.applications.MobileNet, 0.25),
                                            (keras.applications.MobileNetV2, 0.5)])
def test_a_weights_file_for_another_backbone_gets_one_clear_message(tmp_path, factory, alpha):
    path = tmp_path / "other.weights.h5"
    tiny_backbone(factory, alpha).save_weights(path)
    with pytest.raises(ModelError) as info:
        TLGAN("tiny", backbone_weights=path).fit(make_samples(), epochs=1, progress=False)
    message = str(info.value)
    assert "do not fit the MobileNetV2 backbone (alpha=0.35)" in message
    assert "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_96_no_top.h5" in message
    assert "\n" not in message


def test_a_missing_weights_file_is_named(tmp_path):
    with pytest.raises(UsageError, match="backbone weights file not found"):
        TLGAN("tiny", backbone_weights=tmp_path / "nope.h5").fit(make_samples(), epochs=1, progress=False)


@pytest.mark.parametrize("channels", [2, 4])
def test_images_the_backbone_cannot_take_are_refused(channels):
    with pytest.raises(DataError, match=f"have {channels} channels, but the MobileNetV2 backbone "
                                        "takes RGB"):
        TLGAN("tiny", random_backbone=True).fit(make_samples(channels=channels), epochs=1, progress=False)


def test_backbone_input_size_minimum_and_unknown_backbones():
    with pytest.raises(UsageError, match="needs inputs of at least 71 px; received backbone_size=64"):
        TLGAN("tiny", backbone="xception", backbone_size=64, random_backbone=True)
    with pytest.raises(UsageError, match="unknown tlgan backbone 'vgg99'"):
        TLGAN("tiny", backbone="vgg99", random_backbone=True)


def test_grayscale_conditional_model_saves_with_its_backbone(trained, tmp_path):
    model, path = trained
    assert model.spec.classes == ("a", "b") and model.spec.num_channels == 1
    images = [s.image for s in model.generate(2, seed=3, conditions=["b"])]
    assert images[0].shape == (20, 20, 1)  # tiled to RGB for the backbone only
    model.save(tmp_path / "model")
    path.unlink()  # the saved folder holds the backbone, so the file is no longer needed
    loaded = TLGAN.load(tmp_path / "model")
    again = [s.image for s in loaded.generate(2, seed=3, conditions=["b"])]
    assert all(np.array_equal(x, y) for x, y in zip(images, again))
    assert [s.label for s in loaded.generate(2, seed=3, conditions=["b", "a"])] == ["b", "a"]


def test_multiscale_head_reads_stride_4_8_16_maps_and_trains_only_its_heads(weights_file, tmp_path):
    from augkit_tlgan.model import tap_layers

    backbone = tiny_backbone()
    taps = tap_layers(backbone, 32)
    assert [backbone.get_layer(n).output.shape[1] for n in taps] == [8, 4, 2]
    assert not any("pad" in n for n in taps)

    path, expected = weights_file
    model = TLGAN("tiny", seed=1, backbone_weights=path, head="multiscale", head_width=8)
    model.fit(make_samples(6), epochs=2, progress=False)
    disc = model._gan.discriminator
    assert disc.taps == taps and len(disc.tap_heads) == 3
    # the backbone is still the file's and frozen; the conv heads did train
    assert all(np.array_equal(np.array(w), e) for w, e in zip(disc.backbone.weights, expected))
    head_ids = {id(w) for h in disc.tap_heads for w in h.trainable_weights}
    assert head_ids <= {id(w) for w in disc.trainable_weights}
    assert not head_ids & {id(w) for w in disc.backbone.weights}
    # calibration set the per-channel standardisation of the maps from the training images
    assert float(np.abs(np.array(disc.tap_scale[0]) - 1).max()) > 1e-3
    images = np.stack([s.image for s in make_samples(6)]).astype(np.float32) / 127.5 - 1
    labels = np.zeros((6,), np.int32)
    before = np.asarray(disc([images, labels]))
    model.save(tmp_path / "model")
    loaded = TLGAN.load(tmp_path / "model")
    np.testing.assert_allclose(np.asarray(loaded._gan.discriminator([images, labels])), before, rtol=1e-5)


def test_tap_strides_choose_the_maps_and_survive_save_and_load(weights_file, tmp_path):
    path, _ = weights_file
    model = TLGAN("tiny", seed=1, backbone_weights=path, head="multiscale", head_width=8,
                  tap_strides=[2, 4])  # a list, as --set and settings files give it
    model.fit(make_samples(4), epochs=1, progress=False)
    disc = model._gan.discriminator
    assert [disc.backbone.get_layer(n).output.shape[1] for n in disc.taps] == [16, 8]
    model.save(tmp_path / "model")
    assert TLGAN.load(tmp_path / "model")._gan.discriminator.taps == disc.taps
    with pytest.raises(UsageError, match="tap_strides"):
        TLGAN("tiny", random_backbone=True, tap_strides=[3])


def test_vgg16_backbone_taps_the_last_conv_of_blocks_3_4_5_and_takes_a_saved_file(tmp_path):
    # VGG16 (no batch norm) is the backbone whose pretrained weights the classgan benchmark
    # could obtain here; its ImageNet file loads through backbone_weights like any other
    from augkit_tlgan.model import tap_layers

    vgg = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
    assert tap_layers(vgg, 32) == ["block3_conv3", "block4_conv3", "block5_conv3"]
    vgg.layers[1].kernel.assign(np.full(vgg.layers[1].kernel.shape, 0.01, np.float32))
    path = tmp_path / "vgg16_notop.weights.h5"
    vgg.save_weights(path)
    model = TLGAN("tiny", seed=0, backbone="vgg16", backbone_weights=str(path), head="multiscale",
                  head_width=8)
    model.fit(make_samples(4), epochs=1, progress=False)
    backbone = model._gan.discriminator.backbone
    assert np.allclose(np.array(backbone.get_layer("block1_conv1").kernel), 0.01)
    assert not backbone.trainable


def test_a_random_backbone_is_drawn_from_the_model_seed():
    # Keras applications take no seed; without this a resumed fit meets another discriminator
    def backbone_weights(seed):
        model = TLGAN("tiny", seed=seed, random_backbone=True)
        model._build(_spec(), loading=False)
        return [np.array(w) for w in _backbone_of(model).weights]

    first, again, other = backbone_weights(4), backbone_weights(4), backbone_weights(5)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))
    kernel = next(w for w in first if w.ndim == 4 and w.shape[-1] > 1)
    assert 0 < np.abs(kernel).max() <= np.sqrt(6 / (kernel.shape[2] * 9 + kernel.shape[3] * 9)) + 1e-6


def _spec():
    from augkit_latent.images import ImageSpec

    return ImageSpec(num_channels=1, dtype="uint8", low=(0.0,), high=(255.0,), out_shape=(16, 16), classes=())


def test_a_tuple_setting_resumes_from_its_own_checkpoint(tmp_path, epochs_run):
    # checkpoints hold settings as JSON gives them back (lists): a tuple given in Python must
    # still be recognised as the same model, or every resume of such a run would be refused
    settings = dict(random_backbone=True, head="multiscale", head_width=8, tap_strides=(2, 4))
    TLGAN("tiny", seed=3, **settings).fit(make_samples(4), epochs=1, checkpoint_dir=tmp_path,
                                          progress=False)
    resumed = TLGAN("tiny", seed=3, **settings)
    epochs_run.clear()
    history = resumed.fit(make_samples(4), epochs=2, checkpoint_dir=tmp_path, progress=False)
    assert resumed.epochs_trained == 2 and len(history["g_loss"]) == 2
    assert len(epochs_run) == 1  # resumed at epoch 1, not refused and retrained from scratch

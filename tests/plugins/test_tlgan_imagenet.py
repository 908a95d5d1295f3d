"""tlgan ``--backbone-weights imagenet``: an explicit opt-in that takes Keras' own notop file from
Keras' cache (``$KERAS_HOME/models``), fetched there by ``keras.utils.get_file`` with Keras' hash
check. The network is only touched by the real offline test; elsewhere it is cut at the socket,
so the cache hand-off is tested at the download boundary and nowhere else."""

from __future__ import annotations

import inspect
import socket

import numpy as np
import pytest
from click.testing import CliRunner

import tensorflow  # noqa: F401  (required: a broken install fails, it is not skipped)

import keras  # noqa: E402

from augkit.cli import cli  # noqa: E402
from augkit.errors import ModelError  # noqa: E402
from augkit_tlgan import backbones  # noqa: E402
from augkit_tlgan.backbones import BACKBONES, IMAGENET, keras_cache_weights  # noqa: E402
from augkit_tlgan.generator import TLGAN  # noqa: E402

TINY_FILE = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_96_no_top.h5"  # tiny profile's


def make_samples(num=4):
    from augkit.sample import Provenance, Sample

    rng = np.random.default_rng(0)
    return [Sample(rng.integers(0, 200, (20, 20, 1)).astype(np.uint8), Provenance(f"t{i}")) for i in range(num)]


@pytest.fixture
def no_network(monkeypatch):
    """Any name lookup or connection fails the test: what runs must not need the network."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"the network was used: {args[:2]}")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    home = tmp_path / "keras-home"
    (home / "models").mkdir(parents=True)
    monkeypatch.setenv("KERAS_HOME", str(home))
    return home


def test_opt_in_uses_the_file_already_in_keras_cache_without_the_network(keras_home, no_network):
    # a MobileNetV2 (alpha 0.35) notop file in the legacy HDF5 layout of the ImageNet files,
    # where keras.applications would have left it (Keras checks no hash for MobileNet files)
    from keras.src.legacy.saving import legacy_h5_format
    import h5py

    source = keras.applications.MobileNetV2(include_top=False, weights=None, input_shape=(32, 32, 3), alpha=0.35)
    with h5py.File(keras_home / "models" / TINY_FILE, "w") as fh:
        legacy_h5_format.save_weights_to_hdf5_group(fh, source)
    model = TLGAN("tiny", seed=2, backbone_weights=IMAGENET)
    model.fit(make_samples(), epochs=1, progress=False)
    backbone = model._gan.discriminator.backbone
    assert all(np.array_equal(np.array(w), np.array(e)) for w, e in zip(backbone.weights, source.weights))
    assert not backbone.trainable and model.get_config()["backbone_weights"] == "imagenet"


def test_a_cached_file_that_fails_keras_hash_is_fetched_again_and_offline_refused(keras_home, no_network):
    """Xception's notop file has an md5 in keras.applications: a damaged copy in the cache is not
    used; Keras goes for a fresh one, which fails here in one line."""
    spec = BACKBONES["xception"]
    (keras_home / "models" / spec.weights_file).write_bytes(b"not the weights")
    with pytest.raises(ModelError) as info:
        keras_cache_weights(spec, 1.0, 71)
    message = str(info.value)
    assert message.startswith("xception_weights_tf_dim_ordering_tf_kernels_notop.h5: could not get the "
                              "ImageNet weights of Xception through Keras")
    assert spec.weights_url(1.0, 71) in message and "--backbone-weights PATH" in message
    assert str(keras_home / "models") in message and "\n" not in message


def test_offline_the_cli_refuses_in_one_line_naming_the_file_for_real(keras_home, tmp_path, monkeypatch):
    """The real thing: Keras tries the real origin (a short socket timeout, so it cannot hang).
    This machine has no route to it, so augkit says which file to fetch and the PATH
    alternative; where a machine does reach it, the file lands in KERAS_HOME and is used."""
    from augkit.io.demo import write_demo

    monkeypatch.setattr(backbones, "DOWNLOAD_TIMEOUT_S", 10.0)
    demo = write_demo(tmp_path / "demo", num_cases=4, size=32, seed=0)
    out = tmp_path / "model"
    result = CliRunner().invoke(cli, ["train", "--in", str(demo), "--generator", "tlgan", "--profile", "tiny",
                                      "--epochs", "1", "--out", str(out), "--quiet",
                                      "--backbone-weights", "imagenet"])
    fetched = keras_home / "models" / TINY_FILE
    if result.exit_code == 0:  # online: Keras fetched its own file into its cache, augkit used it
        assert fetched.stat().st_size > 1_000_000 and (out / "config.json").is_file()
        return
    assert result.exit_code == 2, result.output
    message = result.stderr.strip()
    assert message.startswith(f"Error: {TINY_FILE}: could not get the ImageNet weights of MobileNetV2")
    assert "URL fetch failure" in message and BACKBONES["mobilenet_v2"].weights_url(0.35, 32) in message
    assert "--backbone-weights PATH" in message and "\n" not in message and "Traceback" not in result.output
    assert not fetched.exists() and not out.exists()


def test_the_origins_and_hashes_are_those_of_keras_applications():
    """A Keras release that moves or re-hashes a file shows here, not in a user's failed fetch."""
    from keras.src.applications import densenet, inception_v3, mobilenet, mobilenet_v2, resnet, vgg16, xception

    assert BACKBONES["xception"].weights_url(1.0, 71) == xception.WEIGHTS_PATH_NO_TOP
    assert BACKBONES["inception_v3"].weights_url(1.0, 75) == inception_v3.WEIGHTS_PATH_NO_TOP
    assert BACKBONES["vgg16"].weights_url(1.0, 32) == vgg16.WEIGHTS_PATH_NO_TOP
    assert BACKBONES["densenet121"].weights_url(1.0, 32) == densenet.DENSENET121_WEIGHT_PATH_NO_TOP
    for key in ("resnet50", "resnet50v2"):
        assert BACKBONES[key].weights_url(1.0, 32) == f"{resnet.BASE_WEIGHTS_PATH}{BACKBONES[key].weights_file}"
        assert BACKBONES[key].weights_md5 == resnet.WEIGHTS_HASHES[key][1]
    assert BACKBONES["mobilenet_v2"].weights_url(0.35, 96) == mobilenet_v2.BASE_WEIGHT_PATH + TINY_FILE
    assert BACKBONES["mobilenet"].weights_url(0.25, 128) == mobilenet.BASE_WEIGHT_PATH + "mobilenet_2_5_128_tf_no_top.h5"
    for key, module in (("xception", xception), ("inception_v3", inception_v3), ("vgg16", vgg16),
                        ("densenet121", densenet)):
        assert f'file_hash="{BACKBONES[key].weights_md5}"' in inspect.getsource(module), key
    assert "file_hash" not in inspect.getsource(mobilenet_v2) and "file_hash" not in inspect.getsource(mobilenet)

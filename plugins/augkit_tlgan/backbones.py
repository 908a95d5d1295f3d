"""The Keras Applications backbones the ``tlgan`` discriminator can stand on, what input each
needs, and where its ImageNet weights come from: a file the user names, or, by the explicit
opt-in ``backbone_weights="imagenet"`` (CLI ``--backbone-weights imagenet``), Keras' own cache
(``$KERAS_HOME/models``, else ``~/.keras/models``), filled by ``keras.utils.get_file`` from the
origin and checked against the hash that ``keras.applications`` uses for the same file, so a
file Keras fetched before is used as it is. Nothing else ever downloads; offline, the opt-in
fails in one line naming the file and ``--backbone-weights PATH``."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

from augkit.errors import ModelError, UsageError

RELEASE_PAGE = "the Keras applications release page"
#: the opt-in value of ``backbone_weights`` (``--backbone-weights imagenet``)
IMAGENET = "imagenet"
#: where keras.applications fetches ImageNet weights from (files under <ORIGIN><folder>/<name>)
ORIGIN = "https://storage.googleapis.com/tensorflow/keras-applications/"
#: seconds a stalled connection may hold the download before it counts as offline
DOWNLOAD_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Backbone:
    key: str
    constructor: str  # name in keras.applications
    min_size: int  # smallest input side Keras accepts
    mode: str  # input scaling the ImageNet weights expect: tf [-1,1], caffe (BGR - mean), torch
    weights_file: str  # the notop ImageNet file, {alpha}/{size} filled in for MobileNets
    origin_folder: str = ""  # the file's folder under ORIGIN, as keras.applications has it
    #: md5 that keras.applications checks the notop file against (None: Keras checks none)
    weights_md5: str | None = None
    has_alpha: bool = False

    def weights_url(self, alpha: float, size: int) -> str:
        return f"{ORIGIN}{self.origin_folder}/{self.weights_name(alpha, size)}"

    def weights_name(self, alpha: float, size: int) -> str:
        if self.has_alpha:  # ImageNet files exist for a few input sides; notop weights fit any
            sides = (128, 160, 192, 224) if self.key == "mobilenet" else (96, 128, 160, 192, 224)
            size = min(sides, key=lambda s: (abs(s - size), s))
        if self.key == "mobilenet":
            alpha_text = {0.25: "2_5", 0.5: "5_0", 0.75: "7_5", 1.0: "1_0"}.get(alpha, str(alpha))
            return self.weights_file.format(alpha=alpha_text, size=size)
        return self.weights_file.format(alpha=float(alpha), size=size)


BACKBONES = {b.key: b for b in (  # origins and hashes as in keras.applications (tests compare)
    Backbone("xception", "Xception", 71, "tf", "xception_weights_tf_dim_ordering_tf_kernels_notop.h5",
             "xception", "b0042744bf5b25fce3cb969f33bebb97"),
    Backbone("mobilenet_v2", "MobileNetV2", 32, "tf",
             "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{alpha}_{size}_no_top.h5", "mobilenet_v2",
             has_alpha=True),
    Backbone("mobilenet", "MobileNet", 32, "tf", "mobilenet_{alpha}_{size}_tf_no_top.h5", "mobilenet",
             has_alpha=True),
    Backbone("resnet50", "ResNet50", 32, "caffe", "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
             "resnet", "4d473c1dd8becc155b73f8504c6f6626"),
    Backbone("resnet50v2", "ResNet50V2", 32, "tf", "resnet50v2_weights_tf_dim_ordering_tf_kernels_notop.h5",
             "resnet", "fac2f116257151a9d068a22e544a4917"),
    Backbone("inception_v3", "InceptionV3", 75, "tf",
             "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5", "inception_v3",
             "bcbd6486424b2319ff4ef7d526e38f63"),
    Backbone("densenet121", "DenseNet121", 32, "torch",
             "densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5", "densenet",
             "30ee3e1110167f948a6b9946edeeb738"),
    # plain conv stacks: no batch norm, so their features do not depend on batch statistics
    Backbone("vgg16", "VGG16", 32, "caffe", "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
             "vgg16", "6d6bbae143d832006294945121d1f1fc"),
)}


def get_backbone(key: str) -> Backbone:
    if key not in BACKBONES:
        raise UsageError(f"unknown tlgan backbone {key!r}; known backbones: {', '.join(sorted(BACKBONES))}.")
    return BACKBONES[key]


def missing_weights_message(backbone: Backbone, alpha: float, size: int) -> str:
    name = backbone.weights_name(alpha, size)
    return (f"tlgan's discriminator stands on a frozen ImageNet-trained {backbone.constructor}, and "
            f"augkit never downloads unasked: no backbone_weights was given. Fix: pass "
            f"backbone_weights='imagenet' (CLI: --backbone-weights imagenet) to let Keras fetch {name} "
            f"into its cache (~/.keras/models), or download it from {RELEASE_PAGE} "
            f"({backbone.weights_url(alpha, size)}) and pass backbone_weights=PATH (CLI: "
            "--backbone-weights PATH), or pass random_backbone=True to train against a frozen "
            "random backbone (much weaker).")


def keras_cache_weights(backbone: Backbone, alpha: float, size: int, *,
                        timeout: float | None = None) -> Path:
    """The notop ImageNet file from Keras' cache, fetched into it by ``keras.utils.get_file``
    (Keras' md5 check) when it is not there or fails the check. Only called for the explicit
    ``backbone_weights="imagenet"``. Offline: one-line ``ModelError`` naming the file, its
    origin and ``--backbone-weights PATH``; a stalled connection gives up after ``timeout``
    seconds (default ``DOWNLOAD_TIMEOUT_S``)."""
    import keras

    name, url = backbone.weights_name(alpha, size), backbone.weights_url(alpha, size)
    cache_dir = os.environ.get("KERAS_HOME")  # None: Keras' default (~/.keras, or /tmp/.keras)
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S if timeout is None else timeout)  # urlretrieve has none
    try:
        path = keras.utils.get_file(name, url, cache_subdir="models", file_hash=backbone.weights_md5,
                                    cache_dir=cache_dir)
    except Exception as exc:  # Keras wraps URLError/HTTPError in Exception; a bad hash is a ValueError
        detail = " ".join(str(exc).split())[:300] or type(exc).__name__
        where = os.path.join(cache_dir or "~/.keras", "models")
        raise ModelError(
            f"{name}: could not get the ImageNet weights of {backbone.constructor} through Keras "
            f"({detail}). Fix: on a machine with internet download {url} and pass "
            f"--backbone-weights PATH (Python: backbone_weights=PATH), or put the file in {where}/ "
            "where Keras looks for it.") from None
    finally:
        socket.setdefaulttimeout(previous)
    return Path(path)


def seeded_random_weights(model, seed: int) -> None:
    """Re-draw every kernel of ``model`` (Glorot uniform, Keras' default for its convs) from
    ``seed``. Keras applications take no seed, so a random backbone would differ per build:
    a resumed fit would meet a new discriminator and one seed would give two models."""
    import numpy as np

    from augkit.seeding import rng_for

    for i, weight in enumerate(model.weights):
        shape = tuple(weight.shape)
        if len(shape) < 2 or not weight.path.endswith("kernel"):
            continue  # biases and batch-norm statistics start at fixed values already
        receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
        fan_in, fan_out = shape[-2] * receptive, shape[-1] * receptive
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        weight.assign(rng_for(seed, i).uniform(-limit, limit, shape).astype("float32"))


def build_backbone(backbone: Backbone, *, size: int, alpha: float, weights: str | Path | None,
                   random_seed: int | None = None):
    """The frozen feature extractor (no top, no pooling) on size×size×3 inputs, its ImageNet
    weights read from ``weights`` when given; without, drawn from ``random_seed`` when given."""
    import keras

    kwargs = {"include_top": False, "weights": None, "input_shape": (size, size, 3)}
    if backbone.has_alpha:
        kwargs["alpha"] = alpha
    model = getattr(keras.applications, backbone.constructor)(**kwargs)
    if weights is not None:
        path = keras_cache_weights(backbone, alpha, size) if str(weights) == IMAGENET else Path(weights)
        if not path.is_file():
            raise UsageError(f"{path}: backbone weights file not found. Fix: give the path of "
                             f"{backbone.weights_name(alpha, size)} (or another notop "
                             f"{backbone.constructor} weights file).")
        try:
            model.load_weights(path)
        except Exception as exc:  # Keras/h5py raise ValueError, KeyError, OSError, ... on a mismatch
            detail = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
            raise ModelError(
                f"{path}: these weights do not fit the {backbone.constructor} backbone"
                f"{f' (alpha={alpha})' if backbone.has_alpha else ''}; they are probably for another "
                f"backbone or width ({type(exc).__name__}: {detail}). Fix: pass "
                f"{backbone.weights_name(alpha, size)}, or choose the backbone the file was made "
                "for (backbone=...)."
            ) from None
    elif random_seed is not None:
        seeded_random_weights(model, random_seed)
    model.trainable = False
    return model


def preprocess(x, mode: str):
    """Images in [-1, 1] (RGB) → what the backbone's ImageNet weights expect."""
    from keras import ops

    if mode == "tf":
        return x
    if mode == "caffe":  # BGR, 0..255, ImageNet mean subtracted
        x = (x + 1.0) * 127.5
        return ops.flip(x, axis=-1) - ops.convert_to_tensor([103.939, 116.779, 123.68], x.dtype)
    if mode == "torch":
        x = (x + 1.0) * 0.5
        mean = ops.convert_to_tensor([0.485, 0.456, 0.406], x.dtype)
        std = ops.convert_to_tensor([0.229, 0.224, 0.225], x.dtype)
        return (x - mean) / std
    raise ValueError(f"unknown preprocessing mode {mode!r}")

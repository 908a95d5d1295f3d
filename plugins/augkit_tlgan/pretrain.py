"""Backbone weights without a download: where ImageNet weights cannot be fetched (an offline
machine), a MobileNetV2 pretrained by self-supervision on the training images themselves gives
tlgan's discriminator a backbone that has seen brain slices, handed over as a weights file
exactly like a downloaded one (``backbone_weights``)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np


def rotation_noise_task(images: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The self-supervised task: each image in 4 rotations, without and with added noise; the
    label (0-7) says which of the 8 was applied."""
    xs, ys = [], []
    for noisy in (0, 1):
        for k in range(4):
            x = np.rot90(images, k, axes=(1, 2))
            if noisy:
                x = np.clip(x + rng.normal(0, 0.25, x.shape), -1, 1)
            xs.append(x)
            ys.append(np.full(len(x), 4 * noisy + k))
    return np.concatenate(xs).astype(np.float32), np.concatenate(ys)


def pretrain_backbone(samples, path: Path, *, size: int = 96, alpha: float = 0.35, epochs: int = 6,
                      seed: int = 0) -> dict:
    """MobileNetV2 (``alpha``) trained on ``rotation_noise_task`` over the Samples' images, its
    notop weights saved to ``path``; returns what was done. Inputs are what tlgan's
    discriminator feeds the backbone: [-1, 1], grayscale tiled to RGB, resized to ``size``."""
    import keras
    from skimage.transform import resize

    keras.utils.set_random_seed(seed)  # the fit's shuffling and initialisation
    rng = np.random.default_rng(seed)
    base = np.stack([resize(s.image.astype(np.float32) / 127.5 - 1.0, (size, size, s.image.shape[-1]),
                            order=1, preserve_range=True) for s in samples])
    if base.shape[-1] == 1:
        base = np.repeat(base, 3, axis=-1)
    x, y = rotation_noise_task(base, rng)
    backbone = keras.applications.MobileNetV2(include_top=False, weights=None, alpha=alpha,
                                              input_shape=(size, size, 3))
    inputs = keras.Input((size, size, 3))
    logits = keras.layers.Dense(8)(keras.layers.GlobalAveragePooling2D()(backbone(inputs)))
    model = keras.Model(inputs, logits)
    model.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"], jit_compile=False)
    started = time.perf_counter()
    history = model.fit(x, y, batch_size=32, epochs=epochs, shuffle=True, verbose=0)
    backbone.save_weights(path)
    return {"task": "rotation (4) x added noise (2) on the training slices", "images": len(x),
            "epochs": epochs, "final_accuracy": round(float(history.history["accuracy"][-1]), 3),
            "seconds": round(time.perf_counter() - started, 1)}

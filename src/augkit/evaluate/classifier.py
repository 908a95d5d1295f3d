"""A small CNN image classifier trained with a best-validation checkpoint: the downstream model
of the class-gain benchmark and the judge of class fidelity.

Everything random is seeded by the caller: weights (one initializer seed per layer), batch
order and batch mixing (numpy ``rng_for``), dropout (the layer's own seed). Batches are
assembled in numpy, so a training set may mix reals, classical variants and generated samples
in any proportion; ``mix="mixup"`` / ``"cutmix"`` blends pairs within each batch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from augkit.seeding import derive_seed, rng_for

MIXES = ("mixup", "cutmix")


@dataclass(frozen=True)
class ClassifierSettings:
    steps: int = 800
    batch_size: int = 32
    learning_rate: float = 1e-3
    eval_every: int = 50  # validation AUC every so many steps; the best one's weights are kept
    widths: tuple[int, ...] = (16, 32, 64)
    dropout: float = 0.3
    mix: str | None = None  # "mixup" or "cutmix" on every batch
    mix_alpha: float = 0.4  # Beta(alpha, alpha) for the blend weight

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TrainedClassifier:
    model: Any  # keras.Model: images in [0, 1] -> class probabilities
    features: Any  # keras.Model: images -> the penultimate features
    best_step: int
    best_val_auc: float
    history: dict[str, list[float]] = field(default_factory=dict)

    def predict(self, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
        return np.concatenate([np.asarray(self.model(images[i:i + batch_size], training=False))
                               for i in range(0, len(images), batch_size)]) \
            if len(images) else np.zeros((0, self.model.output_shape[-1]), np.float32)

    def embed(self, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
        return np.concatenate([np.asarray(self.features(images[i:i + batch_size], training=False))
                               for i in range(0, len(images), batch_size)])


def build_cnn(input_shape: tuple[int, int, int], num_classes: int, *, widths=(16, 32, 64),
              dropout: float = 0.3, seed: int = 0):
    """(classifier, feature model): per width two 3×3 convs with batch norm and ReLU, then 2×2
    max pooling; global average pooling, dropout, a softmax layer."""
    import keras
    from keras import layers

    k = iter(range(1000))

    def init():
        return keras.initializers.HeNormal(seed=derive_seed(seed, next(k)))

    inputs = keras.Input(input_shape)
    x = inputs
    for w in widths:
        for _ in range(2):
            x = layers.Conv2D(w, 3, padding="same", use_bias=False, kernel_initializer=init())(x)
            x = layers.BatchNormalization(momentum=0.9)(x)  # settles within a few hundred steps
            x = layers.ReLU()(x)
        x = layers.MaxPooling2D(2, padding="same")(x)
    feats = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(dropout, seed=derive_seed(seed, 999))(feats)
    out = layers.Dense(num_classes, activation="softmax",
                       kernel_initializer=keras.initializers.GlorotUniform(seed=derive_seed(seed, 998)))(x)
    return keras.Model(inputs, out), keras.Model(inputs, feats)


def mix_batch(x: np.ndarray, y: np.ndarray, rng: np.random.Generator, kind: str,
              alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Blend each image (and its one-hot label ``y``) with a shuffled partner. ``mixup``: a
    convex mix of whole images; ``cutmix``: a box of the partner pasted in, labels mixed by the
    box's area."""
    if kind not in MIXES:
        raise ValueError(f"mix must be one of {MIXES}. Received: {kind!r}")
    partner = rng.permutation(len(x))
    lam = rng.beta(alpha, alpha, size=len(x)).astype(np.float32)
    if kind == "mixup":
        w = lam[:, None, None, None]
        return w * x + (1 - w) * x[partner], lam[:, None] * y + (1 - lam[:, None]) * y[partner]
    h, w_ = x.shape[1:3]
    out = x.copy()
    area = np.empty(len(x), np.float32)
    for i in range(len(x)):
        ch, cw = int(round(h * np.sqrt(1 - lam[i]))), int(round(w_ * np.sqrt(1 - lam[i])))
        r0, c0 = rng.integers(0, h - ch + 1), rng.integers(0, w_ - cw + 1)
        out[i, r0:r0 + ch, c0:c0 + cw] = x[partner[i], r0:r0 + ch, c0:c0 + cw]
        area[i] = ch * cw / (h * w_)
    return out, (1 - area[:, None]) * y + area[:, None] * y[partner]


def train_classifier(train_x: np.ndarray, train_y: np.ndarray, val_x: np.ndarray,
                     val_y: np.ndarray, *, num_classes: int, settings: ClassifierSettings,
                     seed: int) -> TrainedClassifier:
    """Train ``settings.steps`` Adam steps on batches drawn without replacement (reshuffled
    each pass); every ``eval_every`` steps score validation AUC and keep the best weights
    (ties: the earlier step). Returns the classifier with those weights."""
    import keras

    from augkit.evaluate.classification import auc

    if len(train_x) < settings.batch_size:
        raise ValueError(f"train_classifier needs at least batch_size={settings.batch_size} "
                         f"training images. Received: {len(train_x)}")
    model, features = build_cnn(train_x.shape[1:], num_classes, widths=settings.widths,
                                dropout=settings.dropout, seed=seed)
    model.compile(optimizer=keras.optimizers.Adam(settings.learning_rate),
                  loss=keras.losses.CategoricalCrossentropy(), jit_compile=False)
    onehot = np.eye(num_classes, dtype=np.float32)[train_y]
    rng = rng_for(seed, 0xC1A5)
    best = (-np.inf, 0, None)
    history: dict[str, list[float]] = {"step": [], "loss": [], "val_auc": []}
    order, pos, losses = rng.permutation(len(train_x)), 0, []
    for step in range(1, settings.steps + 1):
        if pos + settings.batch_size > len(order):
            order, pos = rng.permutation(len(train_x)), 0
        idx = order[pos:pos + settings.batch_size]
        pos += settings.batch_size
        x, y = train_x[idx], onehot[idx]
        if settings.mix:
            x, y = mix_batch(x, y, rng, settings.mix, settings.mix_alpha)
        losses.append(float(model.train_on_batch(x, y)))
        if step % settings.eval_every == 0 or step == settings.steps:
            probs = _predict(model, val_x)
            score = auc(val_y, probs)
            history["step"].append(step)
            history["loss"].append(float(np.mean(losses)))
            history["val_auc"].append(score)
            losses = []
            if score > best[0]:
                best = (score, step, [w.copy() for w in model.get_weights()])
    model.set_weights(best[2])
    return TrainedClassifier(model, features, best[1], float(best[0]), history)


def _predict(model, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    return np.concatenate([np.asarray(model(x[i:i + batch_size], training=False))
                           for i in range(0, len(x), batch_size)])

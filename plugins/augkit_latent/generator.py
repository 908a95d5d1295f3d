"""``LatentGenerator``: what the ``dcgan`` and ``tlgan`` plugins share. Both draw a latent vector
per sample (optionally with a class label) and differ only in their networks, so training,
resuming, generating, saving and loading live here once.

Choices: every sample's latent vector comes from ``derive_seed(seed, index)``, so a sample
depends only on (seed, its index), never on the batch it was made in. A model is conditional
when its training samples carry two or more labels (``conditional=`` overrides); then
``generate(conditions=[labels])`` makes samples of those classes, and without conditions it
cycles through the classes in sorted order.

Keras and TensorFlow are imported only when a model is built, so listing plugins stays fast.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from augkit.errors import ModelError, UsageError
from augkit.generators.checks import check_training_data
from augkit.generators.contract import PairedNetworkGenerator, run_per_index
from augkit.transforms.intensity import resize_image, unit_to_uint8
from augkit.sample import Provenance, Sample
from augkit.seeding import derive_seed, rng_for

from augkit_latent.images import ImageSpec

MIN_TRAIN_SAMPLES = 2
_GRID_KEY = 0x6A1D  # sample grids use fixed latent vectors derived from the fit seed
_GRID_COLUMNS = 8


class LatentGenerator(PairedNetworkGenerator):
    """Base of the latent-vector GAN plugins. Subclasses set ``name``, ``tasks``,
    ``get_profile`` and implement ``_networks``."""

    tasks: ClassVar[frozenset[str]] = frozenset({"classification", "unconditional"})
    spec_type = ImageSpec

    # ------------------------------------------------------------------ subclass hooks
    def _built(self, generator, discriminator, spec):
        """Both networks built (their weights made) by one call on a dummy batch of one."""
        p = self.profile
        labels = np.zeros((1,), np.int32)
        generator([np.zeros((1, p.latent_dim), np.float32), labels])
        discriminator([np.zeros((1, p.size, p.size, spec.num_channels), np.float32), labels])
        return generator, discriminator

    def _networks(self, spec: ImageSpec, *, loading: bool):
        """Built (generator, discriminator) for ``spec``. ``loading``: weights come from a saved
        folder next, so nothing else needs loading."""
        raise NotImplementedError

    def _check_spec(self, spec: ImageSpec) -> None:
        """Refuse data the networks cannot take (e.g. channel counts), before any building."""

    def _prepare(self, images: np.ndarray) -> None:
        """Data-dependent set-up of freshly built networks (training images in [-1, 1])."""

    # ------------------------------------------------------------------ config
    # ------------------------------------------------------------------ building
    def _build(self, spec: ImageSpec, *, loading: bool = False) -> None:
        import keras
        import tensorflow as tf

        from augkit.generators.training import DiffAugment
        from augkit_latent.gan import LatentGAN

        p = self.profile
        self._check_spec(spec)
        generator, discriminator = self._networks(spec, loading=loading)
        augment = DiffAugment(seed=derive_seed(self.seed, 3)) if p.diff_augment else None
        gan = LatentGAN(generator, discriminator, latent_dim=p.latent_dim, diff_augment=augment,
                        flip=p.flip, real_label=p.real_label, mode_seeking=p.mode_seeking,
                        class_weight=getattr(p, "class_weight", 0.0),
                        seed=derive_seed(self.seed, 4))
        gan.compile(
            g_optimizer=keras.optimizers.Adam(p.learning_rate, beta_1=p.beta_1),
            d_optimizer=keras.optimizers.Adam(p.d_learning_rate or p.learning_rate, beta_1=p.beta_1),
        )
        if augment is not None:
            augment(np.zeros((1, p.size, p.size, spec.num_channels), np.float32))
        gan.build_optimizers()
        self.spec, self._gan = spec, gan

        def infer(z, y):
            return generator([z, y], training=False)

        # a named function: AutoGraph cannot read a lambda's source and warns on every build
        self._infer_fn = tf.function(infer, reduce_retracing=True)
        self._hash = None

    def _has_class_head(self) -> bool:
        return bool(getattr(self._gan.discriminator, "projection", False))

    # ------------------------------------------------------------------ training
    def fit(self, train_samples: Sequence[Sample], *, val_samples: Sequence[Sample] | None = None,
            epochs: int | None = None, seed: int = 0, checkpoint_dir: str | Path | None = None,
            progress: bool = True) -> dict[str, list[float]]:
        """Train to ``epochs`` in total (a model that has trained 4 epochs and is asked for 10
        trains 6 more; a ``checkpoint_dir`` holding a later epoch is resumed from). A latent
        GAN has no paired validation loss: ``val_samples`` are checked, not used."""
        from augkit.generators.training import train_one_epoch, variable_arrays

        train = check_training_data(train_samples, self.name, minimum=MIN_TRAIN_SAMPLES, labels_all_or_none=True)
        if val_samples:
            check_training_data(list(train) + list(val_samples), self.name, labels_all_or_none=True)
        epochs = self._epochs_to_train(epochs)
        spec = self.spec or ImageSpec.from_samples(train, conditional=self.profile.conditional)
        self._check_compatible(spec, train)
        fresh = self._gan is None
        if fresh:
            self._build(spec)
        images, labels = self._arrays(train)
        if fresh:
            self._prepare(images)
        manager = self._begin_fit(seed, checkpoint_dir)

        balance = self.spec.conditional and getattr(self.profile, "balance_classes", False)
        num_drawn = len(balanced_order(labels, rng_for(0))) if balance else len(train)
        half = max(1, min(self.profile.batch_size // 2, num_drawn))
        steps = num_drawn // half  # fixed batch shape: one traced step; order changes each epoch
        gan = self._gan
        with self._epoch_bar(epochs, steps, progress) as bar:
            for epoch, started in self._epochs_left(epochs):
                rng = rng_for(self._fit_seed, epoch)
                order = balanced_order(labels, rng) if balance else rng.permutation(len(train))
                record = train_one_epoch(gan.train_on_batch, (images, labels), order, half,
                                         epoch=epoch, bar=bar, name=self.name,
                                         fix="lower learning_rate, or check the training images.")
                if not self._has_class_head():
                    record = {k: v for k, v in record.items() if not k.endswith("_class_acc")}
                self._end_epoch(epoch, record, started)
                if manager is not None:
                    manager.save(self.epochs_trained, variable_arrays(self._checkpoint_groups()),
                                 self._checkpoint_state())
                    self._write_reports(manager.directory, last=epoch + 1 == epochs)
        return {k: list(v) for k, v in self.history.items()}

    def _check_compatible(self, spec: ImageSpec, samples: Sequence[Sample]) -> None:
        for s in samples:
            if s.image.shape[-1] != spec.num_channels or s.image.dtype.name != spec.dtype:
                raise UsageError(
                    f"sample {s.id!r} is {s.image.shape[-1]}-channel {s.image.dtype}, but the model "
                    f"makes {spec.num_channels}-channel {spec.dtype} images. Fix: give images of "
                    "that kind or train a new model."
                )
            if spec.conditional:
                if s.label is None:
                    raise UsageError(f"sample {s.id!r} has no label; this {self.name} model is "
                                     "class-conditional. Fix: give labelled samples.")
                spec.class_index(s.label, f"sample {s.id!r}")

    def _arrays(self, samples: Sequence[Sample]) -> tuple[np.ndarray, np.ndarray]:
        size = self.profile.size
        images = np.stack([self._to_network(self.spec.to_unit(s.image)) for s in samples])
        if self.spec.conditional:
            labels = np.array([self.spec.class_index(s.label, f"sample {s.id!r}") for s in samples],
                              dtype=np.int32)
        else:
            labels = np.zeros(len(samples), dtype=np.int32)
        return images, labels

    # ------------------------------------------------------------------ network size
    def _padding(self) -> tuple[int, int] | None:
        """(top, left) margins when images are padded into the network instead of resized:
        profile ``resample="pad"`` and training images of one shape no larger than the size."""
        if getattr(self.profile, "resample", "resize") != "pad":
            return None
        shape, size = self.spec.out_shape, self.profile.size
        if shape is None or shape[0] > size or shape[1] > size:
            raise UsageError(
                f"{self.name} resample='pad' needs training images of one size no larger than "
                f"{size}×{size}. Received: {'several sizes' if shape is None else shape}. Fix: "
                "use resample='resize' or a larger size.")
        return (size - shape[0]) // 2, (size - shape[1]) // 2

    def _to_network(self, x: np.ndarray) -> np.ndarray:
        """A [-1, 1] image at the network's size: resized, or padded with its edge values
        (no resampling blur; e.g. 28 px chest X-rays in a 32 px network)."""
        size = self.profile.size
        pad = self._padding()
        if pad is None:
            return resize_image(x, (size, size))
        (top, left), (h, w) = pad, x.shape[:2]
        return np.pad(x, ((top, size - h - top), (left, size - w - left), (0, 0)),
                      mode="edge").astype(np.float32)

    def _from_network(self, x: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        pad = self._padding()
        if pad is None:
            return resize_image(x, shape)
        top, left = pad
        return np.asarray(x[top:top + shape[0], left:left + shape[1]], dtype=np.float32)

    def _latents(self, seeds: Sequence[int]) -> np.ndarray:
        return np.stack([rng_for(s).standard_normal(self.profile.latent_dim, dtype=np.float32)
                         for s in seeds]) if len(seeds) else np.zeros((0, self.profile.latent_dim),
                                                                     np.float32)

    def _paint(self, seeds: Sequence[int], class_indices: Sequence[int]) -> np.ndarray:
        z = self._latents(seeds)
        y = np.asarray(class_indices, dtype=np.int32)
        return run_per_index(self._infer_fn, z, y)  # batch-size independent bytes

    def grid(self, num_samples: int = 32, *, seed: int | None = None) -> list[list[np.ndarray]]:
        """Rows of uint8 pictures (8 per row) of fixed latent vectors; for a conditional model
        the classes take turns row by row."""
        seed = self._fit_seed if seed is None else seed
        seeds = [derive_seed(seed or 0, _GRID_KEY, i) for i in range(num_samples)]
        num_classes = max(1, len(self.spec.classes))
        classes = [(i // _GRID_COLUMNS) % num_classes for i in range(num_samples)]
        fake = self._paint(seeds, classes)
        pictures = [unit_to_uint8(x) for x in fake]
        return [pictures[i:i + _GRID_COLUMNS] for i in range(0, num_samples, _GRID_COLUMNS)]

    def _write_reports(self, directory: Path, *, last: bool) -> None:
        from augkit.generators.training import save_image_grid, write_history

        write_history(self.history_losses(), directory / "history.csv")
        write_curves(self.history_losses(), directory / "losses.png",
                     title=f"{self.name} ({self._profile_name})")
        if self.epochs_trained % self.profile.sample_every and not last:
            return
        rows = self.grid()
        title = f"{self.name} epoch {self.epochs_trained}"
        if self.spec.conditional:
            title += " (rows: " + ", ".join(str(c) for c in self.spec.classes) + ", ...)"
        save_image_grid(directory / "samples" / f"epoch-{self.epochs_trained:04d}.png", rows,
                        title=title)

    def history_losses(self) -> dict[str, list[float]]:
        return {k: v for k, v in self.history.items() if k != "seconds"}

    # ------------------------------------------------------------------ generating
    def generate(self, num_samples: int, *, seed: int, conditions: Sequence[Any] | None = None,
                 batch_size: int = 16) -> Iterator[Sample]:
        """Yield ``num_samples`` new Samples. ``conditions`` are class labels (or Samples, whose
        label is used and who become the parent), used in turn: sample i gets
        ``conditions[i % len(conditions)]``. Validates now; paints lazily."""
        if self._gan is None:
            raise ModelError(f"{self.name} model is not trained. Fix: call fit() or "
                             f"{type(self).__name__}.load(folder) first.")
        if num_samples < 0 or batch_size < 1:
            raise UsageError(f"{self.name} generate: num_samples must be >= 0 and batch_size >= 1. "
                             f"Received: num_samples={num_samples}, batch_size={batch_size}")
        picks = self._picks(num_samples, conditions)
        return self._generate(num_samples, int(seed), picks, batch_size)

    def _picks(self, num_samples: int, conditions) -> list[tuple[int, Any, Sample | None]]:
        """(class index, label, parent) per condition."""
        spec = self.spec
        if conditions is None:
            if not spec.conditional:
                return [(0, None, None)]
            return [(k, label, None) for k, label in enumerate(spec.classes)]
        conditions = list(conditions)
        if not conditions and num_samples:
            raise UsageError(f"{self.name} generate: conditions is empty. Fix: pass class labels "
                             "or leave conditions out.")
        picks = []
        for i, c in enumerate(conditions[:num_samples]):
            parent = c if isinstance(c, Sample) else None
            label = parent.label if parent is not None else c
            if not spec.conditional:
                if label is not None:
                    raise UsageError(
                        f"{self.name} condition {i} asks for label {label!r}, but this model is "
                        "unconditional (trained without labels). Fix: leave conditions out, or "
                        "train on labelled samples.")
                picks.append((0, None, parent))
            else:
                k = spec.class_index(label, f"{self.name} condition {i}")
                picks.append((k, spec.classes[k], parent))
        return picks

    def _generate(self, num_samples, seed, picks, batch_size) -> Iterator[Sample]:
        checkpoint_hash = self.checkpoint_hash
        shape = self.spec.out_shape or (self.profile.size, self.profile.size)
        for start in range(0, num_samples, batch_size):
            index = list(range(start, min(start + batch_size, num_samples)))
            chosen = [picks[i % len(picks)] for i in index]
            fake = self._paint([derive_seed(seed, i) for i in index], [c[0] for c in chosen])
            for i, (_, label, parent), x in zip(index, chosen, fake):
                image = self.spec.from_unit(self._from_network(x, shape))
                params = {"index": i}
                if label is not None:
                    params["label"] = label
                provenance = Provenance(
                    id=f"{self.name}-{seed}-{i:06d}", source="gan",
                    parent_id=parent.id if parent is not None else None, generator=self.name,
                    checkpoint_hash=checkpoint_hash, seed=seed, params=params)
                meta = dict(parent.meta) if parent is not None else {}
                yield Sample(image=image, label=label, provenance=provenance, meta=meta)

    # ------------------------------------------------------------------ saving


def balanced_order(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One epoch's draw of training indices with every class equally often: each class's
    indices shuffled and repeated (then cut) up to the largest class's count, all shuffled
    together. With equal classes it is a permutation."""
    classes = np.unique(labels)
    most = max(int(np.sum(labels == c)) for c in classes)
    picks = []
    for c in classes:
        members = np.flatnonzero(labels == c)
        reps = -(-most // len(members))
        picks.append(np.concatenate([rng.permutation(members) for _ in range(reps)])[:most])
    return rng.permutation(np.concatenate(picks))


def write_curves(history: dict[str, list[float]], path: Path, *, title: str) -> None:
    """Losses on the left, discriminator accuracies on the right (a PNG, written atomically)."""
    import io

    from matplotlib.figure import Figure

    from augkit.io.base import atomic_write_bytes

    fig = Figure(figsize=(8, 3.5), dpi=100)
    losses, accuracies = fig.subplots(1, 2)
    for name, values in history.items():
        ax = accuracies if name.endswith("_acc") else losses
        ax.plot(np.arange(1, len(values) + 1), values, label=name)
    for ax, what in ((losses, "loss"), (accuracies, "discriminator accuracy")):
        ax.set_xlabel("epoch")
        ax.set_ylabel(what)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    atomic_write_bytes(path, buffer.getvalue())

"""``TabImage``: one noise vector → an image and its table row (seed 004), for datasets where
each patient (or slice) has an image and a row of features (risk factors, grades, ages...).

Keras and TensorFlow are imported only when a model is built, so listing plugins stays fast.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from augkit.errors import ModelError, UsageError
from augkit.generators.contract import PairedNetworkGenerator, run_per_index
from augkit.transforms.intensity import unit_to_uint8
from augkit.sample import Provenance, Sample
from augkit.seeding import derive_seed, rng_for
from augkit.tables.encoding import TablePreprocessor

from augkit_tabimage.data import (
    LABEL_COLUMN,
    MIN_TRAIN_SAMPLES,
    ImageSpec,
    check_samples,
    image_batch,
    samples_frame,
    split_label,
)
from augkit_tabimage.profiles import get_profile

_GRID_KEY = 0x7A1  # sample grids and the table gap use fixed noise
_GAP_SAMPLES = 128


class TabImage(PairedNetworkGenerator):
    """Joint image + table GAN (seed 004) for unconditional generation of (image, row) pairs.

    ``TabImage(profile="cpu", seed=0, **overrides)``: ``profile`` is ``paper`` (200 px, seed 004
    widths), ``cpu`` (64 px, trains on ~100 slices in minutes) or ``tiny`` (tests);
    ``overrides`` change single profile fields (``epochs=50``, ``size=128``...). ``seed`` seeds
    weight initialisation; ``fit(seed=...)`` seeds the training stream (batch order, noise,
    dropout, DiffAugment).

    ``fit`` learns the table's columns (kinds, categories, ranges, missing values), the
    images' channel count, dtype and intensity range. Every sample needs ``features``; if the
    samples have labels, the label is learnt as one more column and generated too.
    ``val_samples`` (optional) are the reference of the ``table_l1_gap`` curve (mean absolute
    difference of the encoded column means of 128 generated rows and the reference rows;
    without validation samples, the training rows). ``epochs`` is the total to reach; a
    ``checkpoint_dir`` holding a later epoch is resumed from.

    ``generate(n, seed=...)`` needs no conditions. Sample i depends only on (seed, i): its
    noise and the draws that decode its binary/categorical values come from
    ``rng_for(seed, i)``. Images are made at the profile's size and resized (bilinear) to the
    training images' height and width when those all share one; they have the training images'
    dtype and channels. Features have the training table's columns and value types.
    """

    name = "tabimage"
    tasks = frozenset({"image+tabular"})

    get_profile = staticmethod(get_profile)

    def __init__(self, profile: str = "cpu", seed: int = 0, **overrides: Any):
        super().__init__(profile, seed, **overrides)
        self._overrides = {k: list(v) if isinstance(v, tuple) else v for k, v in overrides.items()}
        self.image_spec: ImageSpec | None = None
        self.table: TablePreprocessor | None = None
        self._grid_fn = None

    # ------------------------------------------------------------------ building
    def _build(self, image_spec: ImageSpec, table: TablePreprocessor) -> None:
        import keras
        import tensorflow as tf

        from augkit.generators.training import DiffAugment
        from augkit_tabimage.model import TabImageDiscriminator, TabImageGAN, TabImageGenerator

        p = self.profile
        image_block = self._image_block(table)
        generator = TabImageGenerator(
            size=p.size, num_channels=image_spec.num_channels, blocks=table.blocks,
            latent_dim=p.latent_dim, trunk_units=p.trunk_units, image_widths=p.image_widths,
            kernel_size=p.kernel_size, table_widths=p.table_widths, upsampling=p.upsampling,
            row_to_image=p.row_to_image, seed=derive_seed(self.seed, 1))
        discriminator = TabImageDiscriminator(
            image_widths=p.disc_image_widths, image_strides=p.disc_image_strides,
            kernel_size=p.kernel_size, table_widths=p.disc_table_widths,
            joint_units=p.disc_joint_units, dropout=p.dropout,
            aux_units=image_block["size"] if image_block else 0, seed=derive_seed(self.seed, 2))
        augment = DiffAugment(p.diff_augment_policy, seed=derive_seed(self.seed, 3)) \
            if p.diff_augment and p.diff_augment_policy else None
        gan = TabImageGAN(generator, discriminator, diff_augment=augment, row_noise=p.row_noise,
                          image_block=image_block, image_weight=p.image_column_weight,
                          seed=derive_seed(self.seed, 4))
        gan.compile(g_optimizer=keras.optimizers.Adam(p.g_learning_rate, beta_1=p.beta_1),
                    d_optimizer=keras.optimizers.Adam(p.d_learning_rate, beta_1=p.beta_1))
        image = np.zeros((1, p.size, p.size, image_spec.num_channels), np.float32)
        generator(np.zeros((1, p.latent_dim), np.float32))
        discriminator((image, np.zeros((1, table.num_features), np.float32)))
        if augment is not None:
            augment(image)
        gan.build_optimizers()
        self.image_spec, self.table, self._gan = image_spec, table, gan
        out_shape = image_spec.shape
        if out_shape is not None and tuple(out_shape) != (p.size, p.size):
            def make(z):  # back to the training images' size, batched (bilinear, as they were shrunk)
                images, rows = generator(z, training=False)
                return tf.image.resize(images, out_shape, method="bilinear"), rows
        else:
            def make(z):
                return generator(z, training=False)
        self._infer_fn = tf.function(make, reduce_retracing=True)
        def grid(z):  # named, not a lambda: AutoGraph warns when it cannot read a lambda's source
            return generator(z, training=False)

        self._grid_fn = tf.function(grid, reduce_retracing=True)
        self._hash = None

    def _image_block(self, table: TablePreprocessor) -> dict[str, Any] | None:
        """The encoded slot of ``profile.image_column`` (None when unset); a one-line error when
        the table has no such categorical or binary column."""
        name = self.profile.image_column
        if name is None:
            return None
        # a categorical column with one value (LGG's tumor_tissue_site) has nothing to show
        usable = [b for b in table.blocks if b["kind"] == "binary" or b["kind"] == "categorical" and b["size"] >= 2]
        for b in usable:
            if b["column"] == name:
                flag = [m for m in table.blocks if m["column"] == name and m["kind"] == "missing"]
                return {**b, "missing_start": flag[0]["start"] if flag else None}
        raise UsageError(f"tabimage image_column={name!r} is not a categorical or binary column of the "
                         f"training rows. Fix: pick one of {[b['column'] for b in usable]}.")

    # ------------------------------------------------------------------ training
    def fit(self, train_samples: Sequence[Sample], *, val_samples: Sequence[Sample] | None = None,
            epochs: int | None = None, seed: int = 0, checkpoint_dir: str | Path | None = None,
            progress: bool = True) -> dict[str, list[float]]:
        from augkit.generators.training import train_one_epoch, variable_arrays

        train = check_samples(train_samples, "training", minimum=MIN_TRAIN_SAMPLES)
        val = check_samples(val_samples, "validation", minimum=1) if val_samples else []
        epochs = self._epochs_to_train(epochs)
        train_frame = samples_frame(train)
        val_frame = samples_frame(val) if val else None
        if self._gan is None:
            # the layout (kinds, values, missing flags) from training and validation rows, so that
            # a validation patient with a gap or a value the training rows lack can be encoded
            # (LGG: MethylationCluster is missing in val only); the network learns from training rows
            layout = train_frame if val_frame is None else pd.concat([train_frame, val_frame], ignore_index=True)
            self._build(ImageSpec.from_samples(train), TablePreprocessor().fit(layout))
        self._check_compatible(train + val)
        manager = self._begin_fit(seed, checkpoint_dir)

        images = image_batch(train, self.image_spec, self.profile.size)
        rows = self.table.transform(train_frame)
        reference = self.table.transform(val_frame) if val else rows
        batch_size, steps = self._fixed_batches(len(train))
        gan = self._gan
        with self._epoch_bar(epochs, steps, progress) as bar:
            for epoch, started in self._epochs_left(epochs):
                order = rng_for(self._fit_seed, epoch).permutation(len(train))
                record = train_one_epoch(gan.train_on_batch, (images, rows), order, batch_size,
                                         epoch=epoch, bar=bar, name="tabimage",
                                         fix="lower the learning rates or check the training data.")
                record["table_l1_gap"] = self._table_gap(reference)
                self._end_epoch(epoch, record, started)
                last = epoch + 1 == epochs
                if manager is not None:
                    if last or self.epochs_trained % self.profile.checkpoint_every == 0:
                        manager.save(self.epochs_trained, variable_arrays(self._checkpoint_groups()),
                                     self._checkpoint_state())
                    if last or self.epochs_trained % self.profile.sample_every == 0:
                        self._write_reports(manager.directory, images)
        return {k: list(v) for k, v in self.history.items()}

    def _check_compatible(self, samples: Sequence[Sample]) -> None:
        spec = self.image_spec
        for s in samples:
            if s.image.shape[-1] != spec.num_channels or s.image.dtype.name != spec.dtype:
                raise UsageError(f"sample {s.id!r} is {s.image.shape[-1]}-channel {s.image.dtype}, but "
                                 f"the model makes {spec.num_channels}-channel {spec.dtype} images. "
                                 "Fix: give images of that kind or train a new model.")
        columns = self.table.column_names
        with_label = LABEL_COLUMN in columns
        features = [c for c in columns if c != LABEL_COLUMN]
        for s in samples:
            if list(s.features) != features or (s.label is not None) != with_label:
                raise UsageError(f"sample {s.id!r} has columns {list(s.features)} (label: "
                                 f"{s.label is not None}); the model was fitted on {features} (label: "
                                 f"{with_label}). Fix: give rows with those columns or train a new model.")

    def _fixed_noise(self, count: int) -> np.ndarray:
        return np.stack([rng_for(self._fit_seed or 0, _GRID_KEY, i).standard_normal(
            self.profile.latent_dim).astype(np.float32) for i in range(count)])

    def _table_gap(self, reference: np.ndarray) -> float:
        _, rows = self._grid_fn(self._fixed_noise(_GAP_SAMPLES))
        return float(np.mean(np.abs(np.asarray(rows).mean(axis=0) - reference.mean(axis=0))))

    def _write_reports(self, directory: Path, real_images: np.ndarray) -> None:
        from augkit.generators.training import save_image_grid, write_history

        write_history({k: v for k, v in self.history.items() if k != "seconds"},
                      directory / "history.csv", directory / "losses.png",
                      title=f"tabimage ({self._profile_name})")
        fake, _ = self._grid_fn(self._fixed_noise(16))
        fake = np.asarray(fake)
        rows = [[unit_to_uint8(x) for x in fake[:8]], [unit_to_uint8(x) for x in fake[8:16]],
                [unit_to_uint8(x) for x in real_images[:8]]]
        save_image_grid(directory / "samples" / f"epoch-{self.epochs_trained:04d}.png", rows,
                        title=f"epoch {self.epochs_trained}: generated (rows 1-2), real (row 3)")

    # ------------------------------------------------------------------ generating
    def generate(self, num_samples: int, *, seed: int, conditions: Sequence[Any] | None = None,
                 batch_size: int = 16) -> Iterator[Sample]:
        """Validate now (a bad call fails here, not at the first ``next``), make lazily."""
        if self._gan is None:
            raise ModelError("tabimage model is not trained. Fix: call fit() or TabImage.load(folder) first.")
        if conditions is not None:
            raise UsageError("tabimage makes an image and a table row from noise alone and takes no "
                             "conditions. Fix: call generate(n, seed=...) without conditions.")
        if num_samples < 0 or batch_size < 1:
            raise UsageError(f"tabimage generate: num_samples must be >= 0 and batch_size >= 1. "
                             f"Received: num_samples={num_samples}, batch_size={batch_size}")
        return self._generate(int(num_samples), int(seed), int(batch_size))

    def _generate(self, num_samples: int, seed: int, batch_size: int) -> Iterator[Sample]:
        checkpoint_hash = self.checkpoint_hash
        latent, num_draws = self.profile.latent_dim, self.table.num_draws
        for start in range(0, num_samples, batch_size):
            index = range(start, min(start + batch_size, num_samples))
            noise = np.empty((len(index), latent), np.float32)
            draws = np.empty((len(index), num_draws))
            for row, i in enumerate(index):
                rng = rng_for(seed, i)
                noise[row] = rng.standard_normal(latent, dtype=np.float32)
                draws[row] = rng.random(num_draws)
            images, rows = run_per_index(self._infer_fn, noise)  # batch-size independent bytes
            images = self.image_spec.from_unit(np.asarray(images))  # whole batch at once
            frame = self.table.inverse_transform(
                np.asarray(rows), draws=draws if self.profile.sample_table else None)
            records = frame.to_dict("records")
            for i, image, record in zip(index, images, records):
                features, label = split_label(record)
                provenance = Provenance(id=f"tabimage-{seed}-{i:06d}", source="gan", generator=self.name,
                                        checkpoint_hash=checkpoint_hash, seed=seed, params={"index": i})
                yield Sample(image=image, features=features, label=label, provenance=provenance)

    # ------------------------------------------------------------------ saving
    def _saved_data(self) -> dict[str, Any]:
        return {"image": self.image_spec.to_dict(), "table": self.table.get_config()}

    def _parse_saved_data(self, meta: dict[str, Any]) -> tuple[ImageSpec, TablePreprocessor]:
        return ImageSpec.from_dict(meta["image"]), TablePreprocessor.from_config(meta["table"])

    def _build_loaded(self, parsed: tuple[ImageSpec, TablePreprocessor]) -> None:
        self._build(*parsed)

"""``Pix2Pix``: the label-preserving generator. It paints an image for a given label map, so a
new mask made from a real one (classical geometric transforms) gets a matching image and the
labels stay exact.

Choices (see the class docstring): ``generate`` needs masks (``conditions``); dropout is off
when generating, so a mask always gives the same image (with dropout on, as in pix2pix, the
images of the cpu profile were speckled and barely differed between seeds: the generator learns
to ignore that noise). ``inference_dropout=True`` turns it on, seeded per sample, so a sample
depends only on (seed, its index), never on the batch it was made in.

Keras and TensorFlow are imported only when a model is built, so listing plugins stays fast.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from augkit.errors import ModelError, UsageError
from augkit.generators.checks import check_training_data
from augkit.generators.contract import KeepsBestGenerator, PairedNetworkGenerator, run_per_index
from augkit.transforms.intensity import resize_image, unit_to_uint8
from augkit.sample import Provenance, Sample
from augkit.seeding import derive_seed, rng_for

from augkit_pix2pix.data import (
    MIN_TRAIN_SAMPLES,
    DataSpec,
    condition_mask,
)
from augkit_pix2pix.profiles import get_profile

PIX2PIX_MASKS = "learns mask → image and needs a mask for every sample"  # why the checks want masks, in their refusal

_VAL_NOISE_KEY = 0x7A1  # validation and sample grids use fixed dropout noise
#: curves in losses.png (g_loss = g_gan + l1_weight·g_l1 would flatten the others)
PLOTTED = ("d_loss", "g_gan", "g_l1", "val_l1")


class Pix2Pix(KeepsBestGenerator, PairedNetworkGenerator):
    """Mask → image GAN (pix2pix, seed 001) for segmentation data.

    ``Pix2Pix(profile="cpu", seed=0, **overrides)``: ``profile`` is ``paper`` (256 px, seed 001
    widths), ``cpu`` (128 px, half widths, trains on 30 slices in minutes) or ``tiny`` (tests);
    ``overrides`` change single profile fields (``epochs=50``, ``l1_weight=50``, ...). ``seed``
    seeds weight initialisation; ``fit(seed=...)`` seeds the training stream (batch order,
    flips, DiffAugment, dropout).

    ``fit`` learns the label values (one-hot channels), channel count, dtype and intensity
    scale from the training samples. ``epochs`` is the total to reach: a model that has trained
    4 epochs and is asked for 10 trains 6 more, and a ``checkpoint_dir`` holding a later epoch
    is resumed from. With validation samples the weights of the lowest validation L1 are kept.

    ``generate(n, seed=..., conditions=[masks or Samples])`` needs conditions: a segmentation
    generator paints images for masks it is given (make new masks from real ones with
    ``ClassicalPipeline.geometric_only()``); ``conditions=None`` is a UsageError rather than a
    silent reuse of training masks. Conditions are used in turn (sample i paints
    ``conditions[i % len(conditions)]``); masks of any size are resized (nearest) to the
    profile size and the image back (bilinear) to the mask's size; the Sample's mask is the
    given one, unchanged. Generation is deterministic; with ``inference_dropout=True`` sample
    i gets dropout noise from ``derive_seed(seed, i)``, so repeats of a mask differ.

    ``save`` writes ``config.json`` (generator name, format version, settings, data scale,
    weights hash) and Keras ``.weights.h5`` files; ``load`` rebuilds the networks from the
    config and reads the weights, so no code is deserialised (safe by construction).
    """

    name = "pix2pix"
    spec_type = DataSpec
    tasks = frozenset({"segmentation"})
    distributable = True  # trains under --strategy mirrored|multiworker (augkit.generators.distribute)

    get_profile = staticmethod(get_profile)

    # ------------------------------------------------------------------ building
    def _build(self, spec: DataSpec, *, loading: bool = False) -> None:  # loading: nothing frozen to skip
        import keras
        import tensorflow as tf

        from augkit.generators.distribute import scope
        from augkit.generators.training import DiffAugment
        from augkit_patchgan.blocks import PatchDiscriminator
        from augkit_pix2pix.model import Pix2PixGAN, UNetGenerator

        # under --strategy mirrored/multiworker: mirrored variables, synchronised batch norm
        with scope():
            p = self.profile
            generator = UNetGenerator(size=p.size, num_classes=spec.num_classes,
                                      num_channels=spec.num_channels, widths=p.generator_widths,
                                      dropout=p.dropout, seed=derive_seed(self.seed, 1))
            discriminator = PatchDiscriminator(widths=p.discriminator_widths, seed=derive_seed(self.seed, 2))
            augment = DiffAugment(seed=derive_seed(self.seed, 3)) if p.diff_augment else None
            gan = Pix2PixGAN(generator, discriminator, l1_weight=p.l1_weight, diff_augment=augment,
                             flip=p.flip, seed=derive_seed(self.seed, 4))
            gan.compile(
                g_optimizer=keras.optimizers.Adam(p.learning_rate, beta_1=p.beta_1),
                d_optimizer=keras.optimizers.Adam(p.learning_rate, beta_1=p.beta_1),
            )
            k, c = spec.num_classes, spec.num_channels
            generator(np.zeros((1, p.size, p.size, k), np.float32))
            discriminator(np.zeros((1, p.size, p.size, k + c), np.float32))
            if augment is not None:
                augment(np.zeros((1, p.size, p.size, k + c), np.float32), num_color_channels=c)
            gan.build_optimizers()
            # the training model itself built too: under a strategy Keras would otherwise try
            # to build it from the first batch, which is then split per replica
            gan(np.zeros((1, p.size, p.size, k), np.float32))
        self.spec, self._gan = spec, gan
        def infer(cond, noise):
            return generator(cond, training=False, noise=noise)

        # a named function: AutoGraph cannot read a lambda's source and warns on every build
        self._infer_fn = tf.function(infer, reduce_retracing=True)
        self._hash = None

    # ------------------------------------------------------------------ training
    def fit(self, train_samples: Sequence[Sample], *, val_samples: Sequence[Sample] | None = None,
            epochs: int | None = None, seed: int = 0, checkpoint_dir: str | Path | None = None,
            progress: bool = True) -> dict[str, list[float]]:
        from augkit.generators.distribute import split_batches
        from augkit.generators.training import train_one_epoch

        train = check_training_data(train_samples, "pix2pix", "training", minimum=MIN_TRAIN_SAMPLES,
                                    masks=PIX2PIX_MASKS)
        val = check_training_data(val_samples, "pix2pix", "validation", masks=PIX2PIX_MASKS) \
            if val_samples else []
        epochs = self._epochs_to_train(epochs)
        spec = self.spec or self._learn_spec(train)
        self._check_compatible(spec, train + val)
        fresh = self._gan is None
        if fresh:
            self._build(spec)
        self._resume_last_weights(self._gan.generator)
        manager = self._begin_fit(seed, checkpoint_dir)

        cond, images = self._arrays(train)
        val_pick = rng_for(self._fit_seed, _VAL_NOISE_KEY).permutation(len(val))[: self.profile.val_max_samples]
        val_cond, val_images = self._arrays([val[i] for i in sorted(val_pick)]) if val else (None, None)
        batch_size, steps = self._fixed_batches(len(train))
        gan = self._gan
        with self._epoch_bar(epochs, steps, progress) as bar:
            for epoch, started in self._epochs_left(epochs):
                order = rng_for(self._fit_seed, epoch).permutation(len(train))
                record = train_one_epoch(split_batches(gan.train_on_batch), (cond, images), order, batch_size,
                                         epoch=epoch, bar=bar, name="pix2pix", shown=("g_l1", "d_loss"),
                                         fix="lower learning_rate or l1_weight, or check the training images.")
                shown = (val_cond, val_images) if val else (cond, images)
                self._finish_epoch(epoch, record, started, manager, self._l1(val_cond, val_images) if val else None,
                                   lambda folder: self._write_reports(folder, *shown, last=epoch + 1 == epochs))
        if val and self.profile.restore_best:
            self._show_best(gan.generator)
        return {k: list(v) for k, v in self.history.items()}

    @property
    def condition(self) -> str:  # type: ignore[override]  # the profile decides
        """``"sample"`` with ``label_map="tissue"``: the map is built from a real image."""
        return "sample" if self.profile.label_map == "tissue" else "mask"

    def _learn_spec(self, train: Sequence[Sample]) -> DataSpec:
        spec = DataSpec.from_samples(train)
        if self.profile.label_map != "tissue":
            return spec
        from augkit_pix2pix.tissue import fit_tissue_centres

        centres = fit_tissue_centres([spec.to_unit(s.image) for s in train], [s.mask for s in train],
                                     spec.label_values[0], self.profile.tissue_classes, self.seed)
        return dataclasses.replace(spec, tissue_centres=centres)

    def _check_compatible(self, spec: DataSpec, samples: Sequence[Sample]) -> None:
        for s in samples:
            unknown = spec.unknown_labels(s.mask)
            if unknown and self._gan is None:  # labels were just learnt from the training set
                raise UsageError(
                    f"validation sample {s.id!r} has mask labels {unknown} that no training mask "
                    f"has (training labels: {list(spec.label_values)}). Fix: give training samples "
                    "that show every label."
                )
            if unknown:
                raise ModelError(
                    f"sample {s.id!r} has mask labels {unknown} the model does not know "
                    f"(it one-hot encodes {list(spec.label_values)}). Fix: train a new model on "
                    "data with all labels, or drop these samples."
                )
            if s.image.shape[-1] != spec.num_channels or s.image.dtype.name != spec.dtype:
                raise UsageError(
                    f"sample {s.id!r} is {s.image.shape[-1]}-channel {s.image.dtype}, but the model "
                    f"makes {spec.num_channels}-channel {spec.dtype} images. Fix: give images of "
                    "that kind or train a new model."
                )

    def _arrays(self, samples: Sequence[Sample]) -> tuple[np.ndarray, np.ndarray]:
        size = self.profile.size
        cond = np.stack([self.spec.condition(s.image, s.mask, size) for s in samples])
        images = np.stack([resize_image(self.spec.to_unit(s.image), (size, size)) for s in samples])
        return cond, images

    def _noise(self, seeds: Sequence[int]):
        if not self.profile.inference_dropout or self.profile.dropout == 0:
            return None
        keep = 1.0 - self.profile.dropout
        shapes = self._gan.generator.noise_shapes()
        per_sample = []
        for s in seeds:
            rng = rng_for(s)
            per_sample.append([(rng.random(shape, dtype=np.float32) < keep) / np.float32(keep)
                               for shape in shapes])
        return [np.stack([n[k] for n in per_sample]).astype(np.float32) for k in range(len(shapes))]

    def _paint(self, cond: np.ndarray, seeds: Sequence[int]) -> np.ndarray:
        noise = self._noise(seeds)
        return run_per_index(self._infer_fn, cond, noise)  # batch-size independent bytes

    def _l1(self, cond: np.ndarray, images: np.ndarray, batch_size: int = 8) -> float:
        total = 0.0
        for start in range(0, len(cond), batch_size):
            seeds = [derive_seed(self._fit_seed, _VAL_NOISE_KEY, start + i)
                     for i in range(len(cond[start:start + batch_size]))]
            fake = self._paint(cond[start:start + batch_size], seeds)
            total += float(np.abs(fake - images[start:start + batch_size]).sum())
        return total / images.size

    def _write_reports(self, directory: Path, cond: np.ndarray, images: np.ndarray, *, last: bool) -> None:
        from augkit.generators.training import save_image_grid, write_history

        due = last or self.epochs_trained % self.profile.sample_every == 0
        write_history(self.history, directory / "history.csv",
                      directory / "losses.png" if due else None, plot_keys=PLOTTED,
                      title=f"pix2pix ({self._profile_name})")
        if not due:
            return
        count = min(4, len(cond))
        seeds = [derive_seed(self._fit_seed, _VAL_NOISE_KEY, i) for i in range(count)]
        fake = self._paint(cond[:count], seeds)
        rows = [[self.spec.display_mask(cond[i]), unit_to_uint8(fake[i]), unit_to_uint8(images[i])]
                for i in range(count)]
        save_image_grid(directory / "samples" / f"epoch-{self.epochs_trained:04d}.png", rows,
                        column_titles=["mask", "generated", "real"],
                        title=f"epoch {self.epochs_trained}")

    # ------------------------------------------------------------------ generating
    def generate(self, num_samples: int, *, seed: int, conditions: Sequence[Any] | None = None,
                 batch_size: int = 16) -> Iterator[Sample]:
        """Validate now (a bad call fails here, not at the first ``next``), paint lazily."""
        if self._gan is None:
            raise ModelError("pix2pix model is not trained. Fix: call fit() or Pix2Pix.load(folder) first.")
        if conditions is None:
            raise UsageError(
                "pix2pix paints images for masks and needs conditions=[mask, ...] (H×W label maps "
                "or Samples with masks). Fix: pass real masks or geometric variants of them."
            )
        if num_samples < 0 or batch_size < 1:
            raise UsageError(f"pix2pix generate: num_samples must be >= 0 and batch_size >= 1. "
                             f"Received: num_samples={num_samples}, batch_size={batch_size}")
        conditions = list(conditions)
        if not conditions and num_samples:
            raise UsageError("pix2pix generate: conditions is empty. Fix: pass at least one mask.")
        masks = []
        for i, c in enumerate(conditions[:num_samples]):
            mask, parent = condition_mask(c, i)
            if self.spec.tissue_centres is not None:
                self._check_tissue_condition(parent, i)
            unknown = self.spec.unknown_labels(mask)
            if unknown:
                raise UsageError(
                    f"pix2pix condition {i} has label values {unknown}; the model knows "
                    f"{list(self.spec.label_values)}. Fix: give masks with the training labels."
                )
            masks.append((mask, parent))
        return self._generate(num_samples, int(seed), masks, batch_size)

    def _check_tissue_condition(self, parent: Sample | None, index: int) -> None:
        if parent is None:
            raise UsageError(
                f"pix2pix condition {index} is a bare mask, but this model was trained with "
                "label_map='tissue' and builds its condition from a real image. Fix: pass Samples "
                "(image + mask), e.g. classical variants of real slices."
            )
        if parent.image.shape[-1] != self.spec.num_channels or parent.image.dtype.name != self.spec.dtype:
            raise UsageError(
                f"pix2pix condition {index} (sample {parent.id!r}) is {parent.image.shape[-1]}-channel "
                f"{parent.image.dtype}; the model was trained on {self.spec.num_channels}-channel "
                f"{self.spec.dtype} images. Fix: give samples of the training data's kind."
            )

    def _generate(self, num_samples, seed, masks, batch_size) -> Iterator[Sample]:
        checkpoint_hash = self.checkpoint_hash
        size = self.profile.size
        for start in range(0, num_samples, batch_size):
            index = list(range(start, min(start + batch_size, num_samples)))
            picked = [masks[i % len(masks)] for i in index]
            cond = np.stack([self.spec.condition(p.image if p is not None else None, m, size)
                             for m, p in picked])
            fake = self._paint(cond, [derive_seed(seed, i) for i in index])
            for i, (mask, parent), x in zip(index, picked, fake):
                scale = self.spec.range_of(parent.image if parent is not None else None)  # the parent's units
                image = self.spec.from_unit(resize_image(x, mask.shape[:2]), scale)
                provenance = Provenance(
                    id=f"pix2pix-{seed}-{i:06d}", source="gan",
                    parent_id=parent.id if parent is not None else None, generator=self.name,
                    checkpoint_hash=checkpoint_hash, seed=seed,
                    params={"index": i, "condition": i % len(masks)},
                )
                if parent is not None:
                    yield parent.derive(image=image, mask=parent.mask.copy(), provenance=provenance)
                else:
                    yield Sample(image=image, mask=np.array(mask, copy=True), provenance=provenance)

    # ------------------------------------------------------------------ saving

"""``lesiongan``: a trained local lesion painter (Huo et al., MedIA: a lesion generator with
soft blending raised Dice over conventional augmentation).

A conditional GAN learns, on square crops around the training slices' real lesions, to fill a
region (the lesion grown by a margin of tissue) given the crop with that region zeroed, the
region, the lesion's shape and a noise channel. ``generate`` edits real slices
(``condition = "sample"``, like ``lesionmix``): a donor lesion's shape is placed in the
recipient's brain by lesionmix's placement (carved, rotated, scaled, elastically jittered, kept
inside the brain and away from the recipient's own lesion), the crop around the new place is
painted by the network, clipped to the recipient's intensity range and blended in with a
feathered edge. Pixels outside the painted region are the recipient's, byte for byte; the mask is
the recipient's with the donor's labels on the placed lesion, so the labels stay exact.

The placement is lesionmix itself, reached through the plugin registry (plugins do not import
each other), fitted on the same training slices and saved in ``placement/`` beside the weights.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from augkit.errors import ModelError, PluginError, UsageError
from augkit.generators.checks import check_training_data
from augkit.generators.contract import KeepsBestGenerator, PairedNetworkGenerator
from augkit.transforms.intensity import IntensityScale, robust_range, unit_to_uint8
from augkit.sample import Provenance, Sample
from augkit.seeding import derive_seed, rng_for

from augkit_lesiongan.crops import (dihedral, foreground_range, lesion_components,
                                    network_input, put_back, region_alpha, to_size, window_around)
from augkit_lesiongan.profiles import get_profile

LESION_MASKS = "paints lesions learnt from labelled slices and needs every lesion mask"  # why the checks want masks, in their refusal

PLACEMENT_DIR = "placement"
_VAL_KEY = 0x1E5  # validation crops and sample grids are fixed per fit seed
PLOTTED = ("d_loss", "g_gan", "g_l1", "val_l1")


@dataclass(frozen=True)
class CropSpec(IntensityScale):
    """The training images' channel count, dtype and intensity scale, and the lesion labels of
    the training masks when there are several (BraTS 1/2/4): each region is shown to the network
    at its own level, so it paints necrosis, oedema and enhancing tumour each as they look."""

    lesion_labels: tuple[int, ...] = ()  # sorted; () or one label: the lesion is one region
    # each slice by its own range (IntensityScale): with one range for all BraTS cases, their
    # regions differed by 0.02 in the network's units and were painted alike
    per_image: bool = False

    def to_dict(self) -> dict[str, Any]:
        d = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}
        if len(self.lesion_labels) <= 1:  # one region: the config of models saved before regions
            d.pop("lesion_labels")
        if not self.per_image:  # the config of models saved before per-image scaling
            d.pop("per_image")
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "CropSpec":
        return cls(num_channels=int(d["num_channels"]), dtype=str(d["dtype"]),
                   low=tuple(float(v) for v in d["low"]), high=tuple(float(v) for v in d["high"]),
                   lesion_labels=tuple(int(v) for v in d.get("lesion_labels", ())),
                   per_image=bool(d.get("per_image", False)))

    @classmethod
    def from_samples(cls, samples: Sequence[Sample]) -> "CropSpec":
        low, high = robust_range([s.image for s in samples])
        first = samples[0].image
        labels = sorted({int(v) for s in samples if s.mask is not None for v in np.unique(s.mask) if v > 0})
        # uint8 pictures share one scale (0..255); any other dtype is scanner units: per slice
        return cls(num_channels=int(first.shape[-1]), dtype=np.dtype(first.dtype).name, low=low, high=high,
                   lesion_labels=tuple(labels) if len(labels) > 1 else (),
                   per_image=np.dtype(first.dtype) != np.uint8)

    def lesion_map(self, labels: np.ndarray) -> np.ndarray:
        """The network's lesion channel from a label map (0 outside the lesion): with one lesion
        label, boolean (label > 0); with several, float32 with label k of n at level (k + 1) / n
        (BraTS: 1 → 1/3, 2 → 2/3, 4 → 1), a label it was not trained on at 1."""
        labels = np.asarray(labels)
        if len(self.lesion_labels) <= 1:
            return labels > 0
        out = (labels > 0).astype(np.float32)
        for k, v in enumerate(self.lesion_labels):
            out[labels == v] = (k + 1) / len(self.lesion_labels)
        return out


@dataclass(frozen=True)
class _Lesion:
    """A training lesion: its slice in [-1, 1], the lesion (boolean, or its regions' levels
    with several lesion labels), the region around it."""

    image: np.ndarray
    lesion: np.ndarray
    region: np.ndarray


class LesionGAN(KeepsBestGenerator, PairedNetworkGenerator):
    """Local lesion painter for segmentation data.

    ``LesionGAN(profile="cpu", seed=0, **overrides)``: ``profile`` is ``cpu`` (64 px crops),
    ``paper`` (96 px, wider) or ``tiny`` (tests); overrides change single profile fields.
    ``fit(train, val_samples=...)`` trains on crops around every training lesion (jittered,
    zoomed, rotated and mirrored afresh each epoch; DiffAugment on the discriminator's input)
    and keeps the weights of the lowest validation L1 inside the region.
    ``generate(n, seed=..., conditions=[recipient Samples with masks])``: sample i edits
    ``conditions[i % len]`` with draws from (seed, i) only, painted one at a time, so it never
    depends on the batch size. A recipient lesionmix finds no room in is returned unchanged
    (``params["placed"] = False``).
    """

    name = "lesiongan"
    spec_type = CropSpec
    tasks = frozenset({"segmentation"})
    condition = "sample"

    get_profile = staticmethod(get_profile)

    def __init__(self, profile: str = "cpu", seed: int = 0, **overrides: Any):
        super().__init__(profile, seed, **overrides)
        self._placer = None  # a fitted lesionmix

    # ------------------------------------------------------------------ building
    def _build(self, spec: CropSpec, *, loading: bool = False) -> None:
        import keras
        import tensorflow as tf

        from augkit.generators.training import DiffAugment
        from augkit_lesiongan.model import InpaintUNet, LesionPainterGAN, compose
        from augkit_patchgan.blocks import PatchDiscriminator

        p, c = self.profile, spec.num_channels
        generator = InpaintUNet(num_channels=c, widths=list(p.generator_widths), seed=derive_seed(self.seed, 1))
        discriminator = PatchDiscriminator(widths=list(p.discriminator_widths), seed=derive_seed(self.seed, 2),
                                           norm_first=False)
        augment = DiffAugment(p.diff_augment_policy, seed=derive_seed(self.seed, 3)) if p.diff_augment else None
        gan = LesionPainterGAN(generator, discriminator, l1_weight=p.l1_weight, diff_augment=augment,
                               seed=derive_seed(self.seed, 4))
        gan.compile(g_optimizer=keras.optimizers.Adam(p.learning_rate, beta_1=p.beta_1),
                    d_optimizer=keras.optimizers.Adam(p.learning_rate, beta_1=p.beta_1))
        generator(np.zeros((1, p.size, p.size, c + 3), np.float32))
        discriminator(np.zeros((1, p.size, p.size, c + 2), np.float32))
        if augment is not None:
            augment(np.zeros((1, p.size, p.size, c + 2), np.float32), num_color_channels=c)
        gan.build_optimizers()
        self.spec, self._gan = spec, gan

        def paint(x):
            return compose(x, generator(x, training=False), c)

        self._infer_fn = tf.function(paint, reduce_retracing=True)
        self._hash = None

    # ------------------------------------------------------------------ training
    def fit(self, train_samples: Sequence[Sample], *, val_samples: Sequence[Sample] | None = None,
            epochs: int | None = None, seed: int = 0, checkpoint_dir: str | Path | None = None,
            progress: bool = True) -> dict[str, list[float]]:
        from augkit.generators.training import train_one_epoch

        train = check_training_data(train_samples, "lesiongan", "training", one_kind=False,
                                    masks=LESION_MASKS, need_lesion=True)
        val = check_training_data(val_samples, "lesiongan", "validation", one_kind=False,
                                  masks=LESION_MASKS) if val_samples else []
        epochs = self._epochs_to_train(epochs)
        spec = self.spec or CropSpec.from_samples(train)
        for s in train + val:
            if s.image.shape[-1] != spec.num_channels or s.image.dtype.name != spec.dtype:
                raise UsageError(f"sample {s.id!r} is {s.image.shape[-1]}-channel {s.image.dtype}, but "
                                 f"lesiongan paints {spec.num_channels}-channel {spec.dtype} images. Fix: "
                                 "give images of one kind or train a new model.")
        if self._gan is None:
            self._build(spec)
        self._resume_last_weights(self._gan.generator)
        self._placer = self._new_placer()
        self._placer.fit(train, progress=False)
        manager = self._begin_fit(seed, checkpoint_dir)

        lesions = self._lesions(train)
        val_lesions = self._lesions(val)
        val_x, val_y = self._crops(val_lesions, rng_for(self._fit_seed, _VAL_KEY), per_lesion=1) \
            if val_lesions else (None, None)
        if val_x is not None:
            pick = rng_for(self._fit_seed, _VAL_KEY, 1).permutation(len(val_x))[: self.profile.val_max_crops]
            val_x, val_y = val_x[np.sort(pick)], val_y[np.sort(pick)]
        per_epoch = len(lesions) * self.profile.crops_per_lesion
        batch_size, steps = self._fixed_batches(per_epoch)
        gan = self._gan
        with self._epoch_bar(epochs, steps, progress) as bar:
            for epoch, started in self._epochs_left(epochs):
                rng = rng_for(self._fit_seed, epoch)
                x, y = self._crops(lesions, rng, per_lesion=self.profile.crops_per_lesion)
                record = train_one_epoch(gan.train_on_batch, (x, y), rng.permutation(len(x)), batch_size,
                                         epoch=epoch, bar=bar, name="lesiongan", shown=("g_l1", "d_loss"),
                                         fix="lower learning_rate or l1_weight, or check the training images.")
                shown = (val_x, val_y) if val_x is not None else (x, y)
                self._finish_epoch(epoch, record, started, manager,
                                   self._region_l1(val_x, val_y) if val_x is not None else None,
                                   lambda folder: self._write_reports(folder, *shown, last=epoch + 1 == epochs))
        if val_x is not None and self.profile.restore_best:
            self._show_best(gan.generator)
        return {k: list(v) for k, v in self.history.items()}

    def _new_placer(self):
        from augkit.registry.host import get_generator

        try:
            cls = get_generator("lesionmix")
        except PluginError:
            raise PluginError("lesiongan places its lesions with the lesionmix plugin, which is not "
                              "loaded. Fix: install augkit with its built-in plugins.") from None
        p = self.profile
        # lesionmix's carved support is then exactly the painted region (see paint)
        return cls(margin_range=(p.margin, p.margin), feather_range=(p.feather, p.feather), blend="alpha")

    def _lesions(self, samples: Sequence[Sample]) -> list[_Lesion]:
        p, out = self.profile, []
        for s in samples:
            if s.mask is None:
                continue
            side = max(s.image.shape[:2])
            unit = self.spec.to_unit(s.image)
            for lesion in lesion_components(s.mask, p.min_lesion_pixels):
                levels = self.spec.lesion_map(np.where(lesion, s.mask, 0))
                out.append(_Lesion(unit, levels, region_alpha(lesion, p.margin * side, p.feather * side) > 0))
        return out

    def _crops(self, lesions: Sequence[_Lesion], rng: np.random.Generator, *, per_lesion: int
               ) -> tuple[np.ndarray, np.ndarray]:
        """``per_lesion`` crops of every lesion, each with its own jitter, zoom, quarter turns,
        mirror and noise; the draws come from ``rng`` in a fixed order."""
        p, xs, ys = self.profile, [], []
        for item in lesions:
            side = max(item.image.shape[:2])
            for _ in range(per_lesion):
                shift = rng.uniform(-p.jitter, p.jitter, size=2)
                zoom = float(rng.uniform(*p.zoom_range))
                k, flip = int(rng.integers(4)), bool(rng.random() < 0.5)
                noise = rng.standard_normal((p.size, p.size)).astype(np.float32)
                window = window_around(item.region, context=p.context, min_side=int(p.min_window * side),
                                       shift=tuple(shift), zoom=zoom)
                sl = window.slices
                crop, region, lesion = dihedral([item.image[sl], item.region[sl], item.lesion[sl]], k, flip)
                x, y = network_input(crop, region, lesion, noise, p.size)
                xs.append(x)
                ys.append(y)
        return np.stack(xs), np.stack(ys)

    def _region_l1(self, x: np.ndarray, y: np.ndarray, batch_size: int = 8) -> float:
        c = y.shape[-1]
        total, count = 0.0, 0.0
        for start in range(0, len(x), batch_size):
            fake = np.asarray(self._infer_fn(x[start:start + batch_size]))
            total += float(np.abs(fake - y[start:start + batch_size]).sum())
            count += float(x[start:start + batch_size, ..., c].sum()) * c
        return total / max(count, 1.0)

    def _write_reports(self, directory: Path, x: np.ndarray, y: np.ndarray, *, last: bool) -> None:
        from augkit.generators.training import save_image_grid, write_history

        due = last or self.epochs_trained % self.profile.sample_every == 0
        write_history(self.history, directory / "history.csv", directory / "losses.png" if due else None,
                      plot_keys=PLOTTED, title=f"lesiongan ({self._profile_name})")
        if not due:
            return
        count = min(4, len(x))
        c = y.shape[-1]
        fake = np.asarray(self._infer_fn(x[:count]))
        rows = [[unit_to_uint8(x[i, ..., :c]), (x[i, ..., c + 1] * 255).astype(np.uint8),
                 unit_to_uint8(fake[i]), unit_to_uint8(y[i])] for i in range(count)]
        save_image_grid(directory / "samples" / f"epoch-{self.epochs_trained:04d}.png", rows,
                        column_titles=["input", "lesion", "painted", "real"], title=f"epoch {self.epochs_trained}")

    # ------------------------------------------------------------------ generating
    def generate(self, num_samples: int, *, seed: int, conditions: Sequence[Any] | None = None,
                 batch_size: int = 16) -> Iterator[Sample]:
        """Validate now (a bad call fails here, not at the first ``next``), paint lazily."""
        if self._gan is None or self._placer is None:
            raise ModelError("lesiongan is not trained. Fix: call fit() or LesionGAN.load(folder) first.")
        if num_samples < 0 or batch_size < 1:
            raise UsageError(f"lesiongan generate: num_samples must be >= 0 and batch_size >= 1. "
                             f"Received: num_samples={num_samples}, batch_size={batch_size}")
        conditions = list(conditions or [])
        for c in conditions[:num_samples] if conditions else [None] * bool(num_samples):
            if not isinstance(c, Sample) or c.mask is None:
                got = "nothing" if c is None else type(c).__name__ if not isinstance(c, Sample) else f"{c.id} without a mask"
                raise UsageError("lesiongan paints lesions into real slices, so its conditions must be "
                                 f"recipient Samples with masks (augkit expand passes them). Received: {got}.")
            if c.image.shape[-1] != self.spec.num_channels:
                raise UsageError(f"lesiongan was fitted on {self.spec.num_channels}-channel slices; {c.id} "
                                 f"has {c.image.shape[-1]} channels. Fix: fit it on this dataset.")
        return self._generate(num_samples, int(seed), conditions)

    def _generate(self, num_samples: int, seed: int, conditions: list[Sample]) -> Iterator[Sample]:
        checkpoint_hash = self.checkpoint_hash
        for i in range(num_samples):
            recipient = conditions[i % len(conditions)]
            image, mask, params = self.paint(recipient, rng_for(seed, i))
            yield Sample(image=image, mask=mask, provenance=Provenance(
                id=f"lesiongan_{seed}_{i:05d}", source="gan", parent_id=recipient.id,
                generator=self.name, checkpoint_hash=checkpoint_hash, seed=seed, params=params),
                label=recipient.label, features=recipient.features, meta=dict(recipient.meta))

    def paint(self, recipient: Sample, rng: np.random.Generator
              ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        """One new (image, mask, params) from ``recipient``; every draw from ``rng``."""
        image, mask, params = self._placer.transplant(recipient, rng)
        params = {**params, "placement_hash": self._placer.checkpoint_hash}
        if not params.get("placed"):
            return image, mask, params
        share = self.profile.paint_share
        if share < 1:  # no draw at the default: every lesion painted, the bytes they always were
            params["painted"] = bool(rng.random() < share)
            if not params["painted"]:  # the transplant as lesionmix made it
                return image, mask, params
        lesion = mask != recipient.mask
        # lesionmix blended its carved patch with the painted region's own alpha (its margin and
        # feather are ours): the pixels it touched are where that alpha is > 0, inside the
        # recipient's brain and away from its lesion
        touched = np.any(image != recipient.image, axis=-1) | lesion
        p, side = self.profile, max(recipient.image.shape[:2])
        alpha = region_alpha(lesion, p.margin * side, p.feather * side, allowed=touched)
        window = window_around(alpha > 0, context=p.context, min_side=int(p.min_window * side))
        sl = window.slices
        noise = rng.standard_normal((p.size, p.size)).astype(np.float32)
        levels = self.spec.lesion_map(np.where(lesion, mask, 0))  # each placed region at its own level
        low, high = (np.asarray(v, np.float32) for v in self.spec.range_of(recipient.image))  # its own scale
        x, _ = network_input(self.spec.to_unit(recipient.image[sl], (low, high)), alpha[sl] > 0, levels[sl],
                             noise, p.size)
        painted = np.asarray(self._infer_fn(x[None]))[0]
        painted = to_size(painted, window.side)
        painted = (np.clip(painted, -1.0, 1.0) + 1.0) / 2.0 * (high - low) + low
        out = put_back(recipient.image, painted, alpha, window, foreground_range(recipient.image))
        params.update({"window": [window.y, window.x, window.side],
                       "painted_pixels": int((alpha > 0).sum())})
        return out, mask, params

    @property
    def checkpoint_hash(self) -> str:
        """The weights' hash; below a full paint share the share is mixed in: the same weights then
        make other samples, and expand's resume and the manifest tell generators apart by it."""
        weights = super().checkpoint_hash
        share = self.profile.paint_share
        if share == 1:
            return weights
        return hashlib.sha256(f"{weights}:paint_share={share!r}".encode()).hexdigest()[:12]

    def set_paint_share(self, share: float) -> None:
        """Paint only ``share`` of the placed lesions from now on; the rest keep the transplanted
        donor tissue. A generating setting: the trained weights stay as they are; the config (and
        so a saved model) and the checkpoint hash record it."""
        overrides = {**self._overrides, "paint_share": float(share)}
        self.profile = self.get_profile(self._profile_name, **overrides)  # refuses a share outside [0, 1]
        self._overrides = overrides

    # ------------------------------------------------------------------ saving
    def save(self, directory: str | Path) -> None:
        if self._placer is None:
            raise ModelError("lesiongan has nothing to save. Fix: call fit() first.")
        self._placer.save(Path(directory) / PLACEMENT_DIR)
        super().save(directory)  # config.json last

    @classmethod
    def load(cls, directory: str | Path) -> "LesionGAN":
        obj = super().load(directory)
        placer_cls = type(obj._new_placer())
        obj._placer = placer_cls.load(Path(directory) / PLACEMENT_DIR)
        return obj

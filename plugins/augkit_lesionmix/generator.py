"""``lesionmix``: a new segmentation pair is a real slice (the recipient, after the classical
pipeline) with a lesion carved from another real slice (the donor) pasted at a new place
inside the recipient's brain.

The recipe follows the lesion-transplant literature: CarveMix (Zhang et al. 2021: the lesion is
carved with a random margin of surrounding tissue), TumorCP (Yang et al. 2021: the tumour gets
its own rotation, scaling, elastic and intensity jitter and goes to a new place in another
patient) and soft blending (Soft-CP; Huo et al.'s lesion painting with Poisson blending). The
donor's intensities are mapped to the recipient's brain (mean/std per channel, clipped to its
range), the edge is feathered, and ``blend="poisson"`` also matches gradients at the border.

Labels stay exact: the new mask is the recipient's mask with the donor's labels (BraTS 0/1/2/4
as they are) written on the moved lesion, and the carved region (lesion + margin + feather)
must lie wholly inside the recipient's brain and keep a gap to the recipient's own lesion, so
no labelled pixel is blended over. Every channel moves together.

There is nothing to train: ``fit`` carves the donors' lesions once (the "model" is that small
library, saved as one ``.npz``), and ``generate`` takes the recipients as ``conditions``
(``condition = "sample"``; ``augkit expand`` hands over each index's classical variant of its
real parent).

Whole cases (``volumes = True``: NIfTI read with ``unit="case"``) get the same recipe in 3D: a
connected tumour component of a donor case is carved with its margin, rotated about the axial
axis, scaled and flipped (labels nearest), placed where all of it lies inside the recipient's
3D brain, feather-blended and intensity-matched per modality. Nothing is carved ahead: ``fit``
keeps the lazy case list and each transplant loads its donor case by index, so one recipient
and one donor case are in memory at a time. Poisson blending stays 2D.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from scipy import ndimage

from augkit.generators.checks import check_training_data
from augkit.transforms.anatomy import brain_mask
from augkit.errors import DataError, ModelError, UsageError
from augkit.generators.contract import Generator, read_saved_config, write_saved_config
from augkit.io.volumes import LazySamples
from augkit.sample import Provenance, Sample
from augkit.seeding import rng_for
from augkit_lesionmix.carve import (BrainStats, Carved, carve, elastic_field,
                                    place_and_paste, warp, warp_volume)

LIBRARY_FILE = "lesions.npz"
BLENDS = ("alpha", "poisson")


@dataclass(frozen=True)
class LesionMixSettings:
    """Every knob; lengths are fractions of the image side so they mean the same at any size."""

    margin_range: tuple[float, float] = (0.0, 0.02)  # tissue carved around the lesion (CarveMix)
    feather_range: tuple[float, float] = (0.01, 0.03)  # soft edge beyond the margin
    rotation_range: tuple[float, float] = (-180.0, 180.0)  # degrees
    scale_range: tuple[float, float] = (0.8, 1.2)
    flip: bool = True
    elastic: float = 0.015  # largest elastic displacement (0 = none)
    elastic_sigma: float = 0.03  # smoothness of the displacement field
    gain_range: tuple[float, float] = (0.9, 1.1)  # contrast jitter, per channel
    offset_range: tuple[float, float] = (-0.1, 0.1)  # × the recipient brain's std, per channel
    blend: str = "alpha"  # "alpha" (feathered) or "poisson" (seamless, then feathered)
    gap: float = 0.01  # distance kept from the recipient's own lesion
    brain_inset: float = 0.05  # the head's outer ring (scalp, skull) is not brain
    case_brain_inset: float = 0.01  # whole cases (skull-stripped BraTS): a 3D inset erodes far more
    max_tries: int = 8  # donors / jitters tried before the recipient is kept unchanged
    # lesions given to each sample: 1..max_lesions (uniform), each placed into the result of the
    # one before, so each keeps the gap to every lesion already there (1: one, the TumorCP recipe)
    max_lesions: int = 1

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name.endswith("_range"):
                value = tuple(float(v) for v in value)
                object.__setattr__(self, f.name, value)
                if len(value) != 2 or value[0] > value[1]:
                    raise UsageError(f"lesionmix {f.name} must be (low, high) with low <= high. "
                                     f"Received: {f.name}={list(value)}")
        if self.blend not in BLENDS:
            raise UsageError(f"lesionmix blend must be one of {', '.join(BLENDS)}. Received: blend={self.blend!r}")
        if min(self.margin_range[0], self.feather_range[0], self.elastic, self.gap, self.brain_inset,
               self.case_brain_inset) < 0 \
                or self.scale_range[0] <= 0 or self.elastic_sigma <= 0 or self.max_tries < 1 \
                or isinstance(self.max_lesions, bool) or not isinstance(self.max_lesions, int) \
                or self.max_lesions < 1:
            raise UsageError(f"lesionmix lengths must be >= 0, scales and elastic_sigma > 0, "
                             f"max_tries and max_lesions whole numbers >= 1. Received: {self}")

    def room(self, side: int) -> float:
        """Pixels carved around a lesion: enough for the widest margin + feather after the
        largest scaling and elastic displacement."""
        grow = (self.margin_range[1] + self.feather_range[1] + self.elastic) * side
        return grow + 2.0


PROFILES = ("default", "tiny", "cpu", "paper")  # nothing is trained: every profile is the same


class LesionMix(Generator):
    name = "lesionmix"
    tasks = frozenset({"segmentation"})
    condition = "sample"
    volumes: ClassVar[bool] = True  # also transplants between whole NIfTI cases
    format_version: ClassVar[int] = 1

    def __init__(self, profile: str = "default", seed: int = 0, **overrides: Any):
        if profile not in PROFILES:
            raise UsageError(f"lesionmix profile must be one of {', '.join(PROFILES)} (all the same: "
                             f"nothing is trained). Received: {profile!r}")
        unknown = sorted(set(overrides) - {f.name for f in fields(LesionMixSettings)})
        if unknown:
            raise UsageError(f"lesionmix has no setting {', '.join(unknown)}; it takes "
                             f"{', '.join(f.name for f in fields(LesionMixSettings))}.")
        self.settings = LesionMixSettings(**overrides)
        self._profile_name = profile
        self._overrides = {k: list(v) if isinstance(v, tuple) else v for k, v in overrides.items()}
        self.seed = int(seed)
        self.donors: list[Carved] = []
        self.cases: LazySamples | None = None  # whole cases: donors are carved when needed
        self.side: int | None = None
        self.epochs_trained = 0
        self.history: dict[str, list[float]] = {}
        self._hash: str | None = None

    def get_config(self) -> dict[str, Any]:
        return {"profile": self._profile_name, "seed": self.seed, **self._overrides}

    def __repr__(self) -> str:
        return f"LesionMix(num_donors={len(self.donors)}, {self.settings})"

    # ---- "training": carve every donor's lesion once
    def fit(self, train_samples: Sequence[Sample], *, val_samples: Sequence[Sample] | None = None,
            epochs: int | None = None, seed: int = 0, checkpoint_dir: str | Path | None = None,
            progress: bool = True) -> dict[str, list[float]]:
        if isinstance(train_samples, LazySamples):
            return self._fit_cases(train_samples)
        check_training_data(train_samples, "lesionmix", one_kind=False, need_lesion=True,
                            masks="transplants lesions between labelled slices and needs every lesion mask")
        side = max(train_samples[0].image.shape[:2])
        room = self.settings.room(side)
        inset = self.settings.brain_inset * side
        self.donors = [c for s in train_samples
                       if (c := carve(s.id, s.image, s.mask, brain_mask(s.image, inset), room,
                                     self.settings.scale_range[1])) is not None]
        self.side = side
        self.epochs_trained = 1
        self.history = {"num_donors": [float(len(self.donors))]}
        self._hash = None
        return self.history

    def _fit_cases(self, cases: LazySamples) -> dict[str, list[float]]:
        """Whole cases: nothing is loaded; the cases' label summaries say which hold a lesion."""
        if self.settings.blend == "poisson":
            raise UsageError("lesionmix blend='poisson' is 2D only; on whole cases use blend=alpha "
                             "(the default), or expand axial slices with --unit slice.")
        with_lesion = [m for m in cases.metas if any(v > 0 for v in m.get("label_values", [1]))]
        if not with_lesion:
            raise DataError(cases.metas[0].get("source_files", ["?"])[-1] if cases.metas else "?",
                            f"lesionmix found no lesion (label > 0) in any of the {len(cases)} cases",
                            "give cases with a tumour segmentation")
        self.cases, self.donors, self.side = cases, [], max(cases.metas[0].get("shape", [0])[:2])
        self.epochs_trained = 1
        self.history = {"num_donors": [float(len(with_lesion))]}
        self._hash = None
        return self.history

    # ---- generation
    def generate(self, num_samples: int, *, seed: int, conditions: Sequence[Any] | None = None,
                 batch_size: int = 16) -> Iterator[Sample]:
        if not self.donors and self.cases is None:
            raise ModelError("lesionmix has no donor lesions yet. Fix: call fit() on image + mask "
                             "samples, or load() a saved lesionmix folder.")
        if not conditions or not all(isinstance(c, Sample) and c.mask is not None for c in conditions):
            got = "nothing" if not conditions else type(conditions[0]).__name__
            raise UsageError("lesionmix pastes donor lesions into real slices, so its conditions "
                             "must be recipient Samples with masks (augkit expand passes them). "
                             f"Received: {got}.")
        for i in range(num_samples):
            recipient = conditions[i % len(conditions)]
            image, mask, params = self.transplant(recipient, rng_for(seed, i))
            yield Sample(image=image, mask=mask, provenance=Provenance(
                id=f"lesionmix_{seed}_{i:05d}", source="gan", parent_id=recipient.id,
                generator=self.name, checkpoint_hash=self.checkpoint_hash, seed=int(seed),
                params=params), label=recipient.label, features=recipient.features,
                meta=dict(recipient.meta))

    def transplant(self, recipient: Sample, rng: np.random.Generator
                   ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        """One new (image, mask, params) from ``recipient``; every draw from ``rng``. With
        ``max_lesions`` > 1 the top-level params describe the first lesion; ``more_lesions``
        holds the others', ``lesions_wanted`` / ``lesions_placed`` the counts."""
        wanted = self.settings.max_lesions
        if wanted == 1:  # no draw for the count: one lesion gives the bytes it always gave
            return self._transplant_one(recipient, rng)
        count = int(rng.integers(1, wanted + 1))
        image, mask, params = self._transplant_one(recipient, rng)
        more: list[dict[str, Any]] = []
        while params["placed"] and 1 + len(more) < count:
            # the next lesion goes into the result as into any recipient: its brain, intensity
            # statistics and the gap to every lesion are read from the image as it is now
            step = recipient.derive(image=image, mask=mask, provenance=recipient.provenance)
            next_image, next_mask, next_params = self._transplant_one(step, rng)
            if not next_params["placed"]:  # no room for another: keep those placed
                break
            image, mask = next_image, next_mask
            more.append(next_params)
        params.update({"lesions_wanted": count, "lesions_placed": int(params["placed"]) + len(more),
                       "more_lesions": more})
        return image, mask, params

    def _transplant_one(self, recipient: Sample, rng: np.random.Generator
                        ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        if recipient.image.ndim == 4:
            return self.transplant_case(recipient, rng)
        if not self.donors:
            raise UsageError("lesionmix was fitted on whole cases; fit it on slices (--unit slice) "
                             f"to transplant into {recipient.id}.")
        st = self.settings
        image, mask = recipient.image, recipient.mask
        if image.shape[-1] != self.donors[0].image.shape[-1]:
            raise UsageError(f"lesionmix was fitted on {self.donors[0].image.shape[-1]}-channel slices; "
                             f"{recipient.id} has {image.shape[-1]} channels. Fit it on this dataset.")
        side = max(image.shape[:2])
        brain = brain_mask(image, st.brain_inset * side)
        stats = BrainStats.of(image, brain)
        own = mask > 0
        keep_off = _grow(own, st.gap * side)
        allowed = brain & ~keep_off
        parents = {recipient.id, recipient.provenance.parent_id}
        pool = [k for k, d in enumerate(self.donors) if d.donor_id not in parents] or \
            list(range(len(self.donors)))
        order = rng.permutation(pool)
        params: dict[str, Any] = {"placed": False, "blend": st.blend}
        for attempt in range(st.max_tries):
            donor = self.donors[int(order[attempt % len(order)])]
            draw = self._draw(rng, donor.labels.shape[0], image.shape[-1], side)
            moved, labels, donor_brain = warp(donor, rotation=draw["rotation"], scale=draw["scale"],
                                              flip=draw["flip"], elastic=draw.pop("field"))
            made = place_and_paste(rng, donor, moved, labels, donor_brain, draw, allowed, image, mask,
                                    stats, st.blend, (stats.low, stats.high))
            if made is None:
                continue
            return _placed(made, params, attempt, "lesion_pixels", elastic_px=round(draw["elastic_px"], 2))
        params["tries"] = st.max_tries  # nowhere to put a lesion: the recipient as it is
        return image.copy(), mask.copy(), params

    def transplant_case(self, recipient: Sample, rng: np.random.Generator
                        ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        """The 3D transplant: one new (image, mask, params) from a whole ``recipient`` case
        (X×Y×Z×C); the donor case is loaded by index, one at a time."""
        st = self.settings
        if self.cases is None:
            raise UsageError(f"lesionmix was fitted on 2D slices and {recipient.id} is a whole case. "
                             "Fix: leave out --model so it is fitted on the cases themselves.")
        image, mask = recipient.image, recipient.mask
        side = max(image.shape[:2])
        brain = brain_mask(image, st.case_brain_inset * side, volume=True)
        stats = BrainStats.of(image, brain)
        allowed = brain & ~_grow(mask > 0, st.gap * side)
        metas = self.cases.metas
        own = recipient.meta.get("group")
        with_lesion = [k for k, m in enumerate(metas) if any(v > 0 for v in m.get("label_values", [1]))]
        pool = [k for k in with_lesion if metas[k].get("group") != own] or with_lesion
        order = rng.permutation(pool)
        params: dict[str, Any] = {"placed": False, "blend": st.blend, "unit": "case"}
        loaded: tuple[int, Sample, np.ndarray] | None = None  # the one donor case in memory
        for attempt in range(st.max_tries):
            k = int(order[attempt % len(order)])
            if loaded is None or loaded[0] != k:
                loaded = None  # let the previous donor go before loading the next
                donor_case = self.cases[k]
                loaded = (k, donor_case, brain_mask(donor_case.image, st.case_brain_inset * side, volume=True))
            _, donor_case, donor_brain = loaded
            components, num = ndimage.label(donor_case.mask > 0)
            if num == 0:
                continue
            sizes = np.bincount(components.ravel())[1:]
            choices = np.flatnonzero(sizes >= 0.1 * sizes.max()) + 1  # no specks
            component = int(choices[rng.integers(len(choices))])
            donor = carve(donor_case.id, donor_case.image, np.where(components == component, donor_case.mask, 0),
                          donor_brain, st.room(side), st.scale_range[1])
            draw = self._draw(rng, 0, image.shape[-1], side, volume=True)
            moved, labels, carved_brain = warp_volume(donor, rotation=draw["rotation"], scale=draw["scale"],
                                                      flip=draw["flip"])
            made = place_and_paste(rng, donor, moved, labels, carved_brain, draw, allowed, image, mask,
                                    stats, "alpha", None)
            if made is None:
                continue
            return _placed(made, params, attempt, "lesion_voxels")
        params["tries"] = st.max_tries  # nowhere to put a lesion: the recipient as it is
        return image.copy(), mask.copy(), params

    def _draw(self, rng: np.random.Generator, size: int, channels: int, side: int,
              volume: bool = False) -> dict[str, Any]:
        st = self.settings
        u = lambda r: float(rng.uniform(*r))  # noqa: E731
        draw = {"rotation": u(st.rotation_range), "scale": u(st.scale_range),
                "flip": bool(st.flip and rng.random() < 0.5),
                "margin_px": u(st.margin_range) * side, "feather_px": u(st.feather_range) * side,
                "gain": rng.uniform(*st.gain_range, size=channels),
                "offset": rng.uniform(*st.offset_range, size=channels),
                "elastic_px": st.elastic * side}
        if volume:  # no elastic jitter in 3D
            return draw
        noise = rng.uniform(-1.0, 1.0, size=(2, size, size)).astype(np.float32)
        draw["field"] = elastic_field(noise, amplitude=draw["elastic_px"], sigma=st.elastic_sigma * side) \
            if st.elastic > 0 else None
        return draw

    # ---- the saved "model": the carved lesions
    @property
    def checkpoint_hash(self) -> str:
        if self.cases is not None:  # whole cases: the config and the cases it carves from
            if self._hash is None:
                files = [m.get("source_files") for m in self.cases.metas]
                digest = json.dumps([self.get_config(), files], sort_keys=True, default=str)
                self._hash = hashlib.sha256(digest.encode()).hexdigest()[:12]
            return self._hash
        if not self.donors:
            raise ModelError("lesionmix has no donor lesions yet. Fix: call fit() or load() first.")
        if self._hash is None:
            digest = hashlib.sha256(json.dumps(self.get_config(), sort_keys=True).encode())
            for name, array in sorted(self._arrays().items()):
                digest.update(name.encode() + str((array.dtype.str, array.shape)).encode())
                digest.update(np.ascontiguousarray(array).tobytes())
            self._hash = digest.hexdigest()[:12]
        return self._hash

    def _arrays(self) -> dict[str, np.ndarray]:
        out = {}
        for k, d in enumerate(self.donors):
            out |= {f"image_{k}": d.image, f"labels_{k}": d.labels, f"brain_{k}": d.brain,
                    f"stats_{k}": d.stats.to_array(), f"origin_{k}": np.asarray(d.origin, np.int64)}
        return out

    def save(self, directory: str | Path) -> None:
        if self.cases is not None:
            raise ModelError("lesionmix on whole cases carves its donors from the cases at expand "
                             "time, so there is nothing to save. Fix: run augkit expand --generator "
                             "lesionmix without --model.")
        if not self.donors:
            raise ModelError("lesionmix has nothing to save. Fix: call fit() first.")
        from augkit.io.base import atomic_write_bytes
        import io

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        np.savez_compressed(buf, **self._arrays())
        atomic_write_bytes(directory / LIBRARY_FILE, buf.getvalue())
        write_saved_config(directory, {
            "generator": self.name, "format_version": self.format_version, "config": self.get_config(),
            "donor_ids": [d.donor_id for d in self.donors], "side": self.side,
            "checkpoint_hash": self.checkpoint_hash, "epochs_trained": self.epochs_trained,
            "history": self.history})

    @classmethod
    def load(cls, directory: str | Path) -> "LesionMix":
        directory = Path(directory)
        meta = read_saved_config(directory, cls.name, cls.format_version)
        try:
            obj = cls(**meta["config"])
            with np.load(directory / LIBRARY_FILE, allow_pickle=False) as lib:
                obj.donors = [Carved(name, lib[f"image_{k}"], lib[f"labels_{k}"], lib[f"brain_{k}"],
                                     BrainStats.from_array(lib[f"stats_{k}"]),
                                     tuple(int(v) for v in lib[f"origin_{k}"]))
                              for k, name in enumerate(meta["donor_ids"])]
        except (KeyError, TypeError, ValueError, OSError, UsageError) as exc:
            raise ModelError(f"{directory}: not a complete lesionmix folder ({exc}). Fix: save it "
                             "again (augkit train --generator lesionmix).") from None
        obj.side = meta.get("side")
        obj.epochs_trained = int(meta.get("epochs_trained", 1))
        obj.history = {k: list(v) for k, v in meta.get("history", {}).items()}
        if obj.checkpoint_hash != meta.get("checkpoint_hash"):
            raise ModelError(f"{directory}: lesions do not match the hash in config.json (damaged or "
                             "mixed files). Fix: save it again.")
        return obj


def _placed(made: tuple, params: dict[str, Any], attempt: int, size_key: str, **extra: Any) -> tuple:
    """A transplant that found its place: the new image and mask, and its parameters (the
    manifest's order: placed, attempt, size, the placement, then ``extra``)."""
    out, new_mask, placed = made
    params.update({"placed": True, "attempt": attempt, size_key: placed.pop("lesion_size"), **placed, **extra})
    return out, new_mask, params


def _grow(inside: np.ndarray, pixels: float) -> np.ndarray:
    if pixels <= 0 or not inside.any():
        return inside
    if inside.ndim == 3:
        return ndimage.distance_transform_edt(~inside) <= pixels
    import cv2

    # Only pixels within ``pixels`` of the lesion's box can be reached: the distance map runs on
    # that box (grown by a 2-pixel rim for the 5×5 chamfer), the same pixels ~10× faster.
    rows, cols = np.flatnonzero(inside.any(axis=1)), np.flatnonzero(inside.any(axis=0))
    rim = int(np.ceil(pixels)) + 2
    box = (slice(max(rows[0] - rim, 0), rows[-1] + rim + 1), slice(max(cols[0] - rim, 0), cols[-1] + rim + 1))
    grown = np.zeros(inside.shape, bool)
    grown[box] = cv2.distanceTransform((~inside[box]).astype(np.uint8), cv2.DIST_L2, 5) <= pixels
    return grown

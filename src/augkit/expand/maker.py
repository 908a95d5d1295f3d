"""How one output index of ``expand`` becomes a Sample: the real sample itself (resized when the
transforms resize), a classical variant of its parent, or a generator's sample (painted for a
transformed real mask, or an edit of the parent's variant), with near-copies of real images
(and, for image + table data, of real rows) painted again or dropped. Everything is decided by (seed, index) and the parent plan."""

from __future__ import annotations

from typing import Any

from augkit.transforms.blend import blend_lesion
from augkit.errors import UsageError
from augkit.generators.contract import Generator, is_sample_conditioned
from augkit.io import Dataset
from augkit.expand.plan import plan_parents
from augkit.sample import Provenance, Sample
from augkit.seeding import derive_seed
from augkit.transforms.pipeline import ClassicalPipeline

MAX_NEAR_COPY_ATTEMPTS = 4


class SampleMaker:
    """Turns an output index into a Sample: real copy, classical variant or GAN painting."""

    def __init__(self, dataset: Dataset, pipeline: ClassicalPipeline, seed: int,
                 generator: Generator | None, near_copy_threshold: float | None = None,
                 parents: list[int] | None = None, gan_region: str = "image",
                 real_resize: ClassicalPipeline | None = None):
        self.reals = dataset.samples
        self.real_resize = real_resize
        self.gan_region = gan_region
        self.parents = parents if parents is not None else plan_parents(dataset, len(dataset), False)
        self.pipeline = pipeline
        self.mask_pipeline = pipeline.geometric_only()
        self.seed = seed
        self.generator = generator
        self.near_copy_threshold = near_copy_threshold
        self._real_z = None
        self._records = None
        if generator is not None and near_copy_threshold is not None:
            from augkit.evaluate.features import thumbnails, zscore_flat

            self._real_z = zscore_flat(thumbnails(self.reals))
            if self.reals and all(s.features is not None for s in self.reals):
                from augkit.evaluate.table_privacy import NearestRecord
                from augkit.tables.patients import patient_rows

                # image + table data: a row that copies a patient's is a copy too; one row per
                # patient, so that a patient's several slices do not make the threshold exact copies
                self._records = NearestRecord(*patient_rows(self.reals))

    def make(self, index: int, source: str) -> tuple[Sample | None, list[dict[str, Any]]]:
        """The sample for ``index`` (None when every GAN attempt was a near-copy) and the
        near-copy events met on the way."""
        if source == "real":
            real = self.reals[index]
            return (real if self.real_resize is None else resized_real(real, self.real_resize)), []
        parent = self.reals[self.parents[index - len(self.reals)]]
        sample_seed = derive_seed(self.seed, index)
        if source == "classical":
            return self.pipeline(parent, seed=sample_seed, new_id=f"{parent.id}_aug{index:05d}"), []
        events = []
        for attempt in range(MAX_NEAR_COPY_ATTEMPTS):
            attempt_seed = sample_seed if attempt == 0 else derive_seed(self.seed, index, attempt)
            sample = self._paint(parent, index, attempt_seed)
            near = self._nearest_real(sample)
            row = self._nearest_row(sample)
            image_copy = near is not None and near[1] >= self.near_copy_threshold
            row_copy = row is not None and self._records.is_near_copy(row[1])
            if not (image_copy or row_copy):
                if attempt:
                    sample.provenance.params["near_copy_retries"] = attempt
                return sample, events
            events.append({"index": index, "id": sample.id, "attempt": attempt, "seed": attempt_seed,
                           "nearest_real_id": near[0], "ncc": round(near[1], 5),
                           "nearest_row_id": "" if row is None else row[0],
                           "row_distance": "" if row is None else round(row[1], 5),
                           "outcome": "dropped" if attempt == MAX_NEAR_COPY_ATTEMPTS - 1 else "regenerated"})
        return None, events

    def _nearest_real(self, sample: Sample) -> tuple[str, float] | None:
        if self._real_z is None:
            return None
        from augkit.evaluate.features import thumbnails, zscore_flat

        sims = zscore_flat(thumbnails([sample])) @ self._real_z.T
        best = int(sims.argmax())
        return self.reals[best].id, float(sims[0, best])

    def _nearest_row(self, sample: Sample) -> tuple[str, float] | None:
        if self._records is None or sample.features is None:
            return None
        return self._records.nearest(sample.features)

    def _paint(self, parent: Sample, index: int, sample_seed: int) -> Sample:
        if parent.mask is not None and is_sample_conditioned(self.generator):
            return self._edit(parent, index, sample_seed)
        if parent.mask is not None:
            # New masks come from real masks through label-safe geometry; the generator paints
            # the image for that exact mask, so the pair needs no re-annotation.
            moved, mask, mask_params = self.mask_pipeline.apply(parent.image, parent.mask, sample_seed)
            painted = next(iter(self.generator.generate(1, seed=sample_seed, conditions=[mask])))
            params, changes = {"mask_transforms": mask_params, "gan_region": self.gan_region}, {"mask": mask}
        else:
            # Classification: ask for the parent's class; unconditional / image+table: no condition.
            wants_label = "classification" in self.generator.tasks and parent.label is not None
            painted = next(iter(self.generator.generate(
                1, seed=sample_seed, conditions=[parent.label] if wants_label else None)))
            params = {}
            if wants_label and painted.label is not None:
                if painted.label != parent.label:  # the class folder must say what was painted
                    raise UsageError(
                        f"generator {self.generator.name!r} was asked for class {parent.label!r} "
                        f"and returned a sample labelled {painted.label!r}; it breaks the "
                        "Generator.generate contract.")
                params = {"label": parent.label}
            changes = {"label": painted.label if painted.label is not None else parent.label,
                       "features": painted.features if painted.features is not None else parent.features}
        if painted.image.shape != parent.image.shape or painted.image.dtype != parent.image.dtype:
            raise UsageError(
                f"generator {self.generator.name!r} returned an image of shape {painted.image.shape} "
                f"{painted.image.dtype} for a dataset of {parent.image.shape} {parent.image.dtype}; "
                "train it on this dataset (augkit train --in ...)."
            )
        image = painted.image
        if self.gan_region == "lesion":
            # the real image under the same geometry keeps its anatomy; the GAN gives the lesion
            image = blend_lesion(moved, painted.image, mask)
        prov = Provenance(
            id=f"{parent.id}_gan{index:05d}", source="gan", parent_id=parent.id,
            generator=self.generator.name, checkpoint_hash=self.generator.checkpoint_hash,
            seed=sample_seed, params=params,
        )
        return parent.derive(image=image, provenance=prov, **changes)

    def _edit(self, parent: Sample, index: int, sample_seed: int) -> Sample:
        """A generator that edits real samples (``condition = "sample"``, e.g. a lesion
        transplant) gets the parent's classical variant for this index and returns the new pair."""
        new_id = f"{parent.id}_gan{index:05d}"
        variant = self.pipeline(parent, seed=sample_seed, new_id=new_id)
        made = next(iter(self.generator.generate(1, seed=sample_seed, conditions=[variant])))
        prov = Provenance(
            id=new_id, source="gan", parent_id=parent.id, generator=self.generator.name,
            checkpoint_hash=self.generator.checkpoint_hash, seed=sample_seed,
            params={**variant.provenance.params, self.generator.name: made.provenance.params},
        )
        return parent.derive(image=made.image, mask=made.mask, provenance=prov)


def real_resize_for(dataset: Dataset, pipeline: ClassicalPipeline) -> ClassicalPipeline | None:
    """With a resize in the pipeline the variants come out at its size; the reals are then
    resized too (this returns the pipeline that does it), so the output holds one image size.
    NIfTI slices are refused: a resize changes their voxel size, which their affine would not say."""
    size = pipeline.output_size()
    if size is None or all(s.image.shape[:2] == size for s in dataset.samples):
        return None
    if any("source_volumes" in s.meta for s in dataset.samples):
        raise UsageError(
            f"the transforms resize to {size[0]}x{size[1]}, but {dataset.format} slices keep their "
            "NIfTI affine, which would then give the wrong voxel size; resample the volumes "
            "first (e.g. nibabel.processing.conform) or drop the resize."
        )
    return pipeline.resize_only()


def resized_real(real: Sample, resize: ClassicalPipeline) -> Sample:
    """A real sample brought to the variants' size: still source 'real', its resize recorded,
    written as new files (no byte copy of the original)."""
    image, mask, params = resize.apply(real.image, real.mask, seed=0)
    prov = Provenance(id=real.id, source="real", params={"transforms": params})
    meta = {k: v for k, v in real.meta.items() if k != "source_files"}
    return real.derive(image=image, mask=mask, provenance=prov, meta=meta)

"""Generic NIfTI ``image/`` + ``label/`` folders (``nifti``), and the slice and case helpers that
the BraTS format (``augkit.io.brats``) shares.

The read option ``unit`` says what a sample is. ``unit="case"`` (the default for 3D volumes):
one whole case per sample, loaded on demand (``augkit.io.volumes``). ``unit="slice"`` (the
default when every volume has one slice, as ``expand --unit slice`` writes them, and implied by
``slices=``): the axial slice, as below.

With ``unit="slice"`` the unit is the axial slice ``volume[:, :, k]``: sample rows and columns are the volume's first
and second voxel axes, as stored (no reorientation, so a slice goes back into its file
unchanged). ``slices="tumour"`` (default) keeps slices whose label is non-zero somewhere;
``slices="all"`` keeps every slice; ``slices="one"`` keeps one slice per volume, the one with the
largest labelled area (seed 001's 30 slices from 30 cases). A one-slice volume is a slice already (augkit writes every
sample as one): it is one sample whatever ``slices`` says, and its id has no ``_z000`` added, so a
folder written by ``augkit expand`` reads back under the ids its ``manifest.csv`` lists.

A sample is written back as a one-slice volume (H×W×1) whose affine is the source affine moved
to slice ``k`` (what ``img.slicer[:, :, k:k+1]`` gives) and whose header is the source header.
Files are gzip'd with ``mtime=0``, so the same arrays give the same bytes. Real slices are
written the same way: they are slices, not whole files, so ``meta`` names their volumes under
``source_volumes`` (not ``source_files``, which would ask for a byte copy).
Header extensions are not carried over.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import numpy as np

from augkit.errors import DataError, UsageError
from augkit.io.arrays import as_labels, cast_labels, cast_like
from augkit.io.base import Dataset, DatasetFormat, atomic_copy, atomic_write_bytes
from augkit.io.folder2d import (IMAGE_DIRS, MASK_DIRS, folder_pair_names, natural_key,
                                posix_join, safe_name, safe_relpath, walk_visible)
from augkit.io.nifti_file import (check_3d, check_loadable, encode_slice, encode_volume,
                                header_info, header_shape, label_summary, load_volume)
from augkit.io.volumes import LazySamples
from augkit.sample import Provenance, Sample

SLICE_CHOICES = ("tumour", "all", "one")
UNIT_CHOICES = ("case", "slice")
_NIFTI_FILE = re.compile(r"^(?P<stem>.+?)(?P<ext>\.nii(?:\.gz)?)$", re.IGNORECASE)


def volume_meta(path: Path, img, dtype: np.dtype) -> dict:
    return {"path": str(path.resolve()), "affine": img.affine.tolist(),
            "header": bytes(img.header.binaryblock), "dtype": str(dtype)}


def select_slices(labels: np.ndarray, slices: str) -> list[int]:
    if slices == "all" or labels.shape[2] == 1:  # a one-slice volume is one chosen slice
        return list(range(labels.shape[2]))
    per_slice = labels.reshape(-1, labels.shape[2])
    if slices == "one":  # the largest labelled area; none when the volume has no label at all
        area = np.count_nonzero(per_slice, axis=0)
        return [int(area.argmax())] if area.max(initial=0) > 0 else []
    return [int(k) for k in np.flatnonzero(per_slice.any(axis=0))]


def check_slices_option(options: dict[str, Any], fmt: str) -> str:
    options = {k: v for k, v in options.items() if v is not None}  # None: the default
    unknown = sorted(set(options) - {"slices", "unit"})
    if unknown:
        raise UsageError(f"format {fmt!r} takes the read options 'unit' and 'slices' only; received {unknown}")
    slices = options.get("slices", "tumour")
    slices = "tumour" if slices == "tumor" else slices
    if slices not in SLICE_CHOICES:
        raise UsageError(f"slices must be one of {SLICE_CHOICES}. Received: slices={slices!r}")
    return slices


def check_unit_option(options: dict[str, Any], label_paths: list[Path]) -> str:
    """``unit`` as asked; by default ``slice`` when ``slices`` is given or every label volume
    has one slice (an ``expand --unit slice`` output), else ``case``."""
    unit = options.get("unit")
    if unit is not None and unit not in UNIT_CHOICES:
        raise UsageError(f"unit must be one of {UNIT_CHOICES}. Received: unit={unit!r}")
    if unit == "case" and options.get("slices") is not None:
        raise UsageError("--slices chooses axial slices and goes with --unit slice; with --unit case "
                         "every case is a whole volume. Drop --slices or pass --unit slice.")
    if unit is None:
        if options.get("slices") is not None:
            return "slice"
        shapes = [header_shape(p, "label volume") for p in label_paths]
        return "slice" if all(len(s) < 3 or s[2] == 1 for s in shapes) else "case"
    return unit


def slice_read_options(options: dict[str, Any], slices: str) -> dict[str, Any]:
    """How slices were read, for ``Dataset.options``: the ``slices`` rule when the caller asked
    for slices, else (one-slice volumes, e.g. an ``expand --unit slice`` output, read whole)
    ``unit="slice"`` alone: no slice rule was applied."""
    if options.get("slices") is not None or options.get("unit") == "slice":
        return {"slices": slices}
    return {"unit": "slice"}


def label_volume(data: np.ndarray, path: Path) -> np.ndarray:
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise DataError(path, f"label volume has shape {data.shape}; expected a 3D volume",
                        "give one 3D label volume per case")
    return as_labels(data, path, "label volume")


def nifti_ext(name: str) -> str:
    return ".nii.gz" if name.lower().endswith(".nii.gz") else ".nii"


def sample_name(sample: Sample) -> str:
    return safe_name(sample.id.rsplit("/", 1)[-1])


def check_same_shape(path: Path, shape: tuple, ref_path: Path, ref_shape: tuple) -> None:
    if shape != ref_shape:
        raise DataError(path, f"volume shape {shape} does not match {ref_path.name} shape {ref_shape}",
                        "give every volume of a case the same grid (resample or re-export them)")


# ---- BraTS --------------------------------------------------------------------------------
def mask_slice_file(mask: np.ndarray, volume: dict | None, target: Path, k: int) -> tuple[Path, bytes]:
    """A slice's label file, in its source label volume's dtype (int16 without a source)."""
    mask = cast_labels(mask, volume["dtype"] if volume else np.int16, target)
    return target, encode_slice(mask[:, :, None], volume, k)


def write_files(files: list[tuple[Path, bytes]], out_dir: Path) -> list[str]:
    for path, data in files:
        atomic_write_bytes(path, data)
    return [p.relative_to(out_dir).as_posix() for p, _ in files]


def copy_real(sample: Sample, meta: dict, target_dir: Path, subdirs: list[str] | None = None
               ) -> list[Path] | None:
    """A real case's files copied byte for byte into ``target_dir`` (``[/<subdir>]``, one per
    file); None for a sample that is not an unchanged real case."""
    files = meta.get("source_files")
    if sample.provenance.source != "real" or not files:
        return None
    out = []
    for i, f in enumerate(files):
        dst = (target_dir / subdirs[i] if subdirs else target_dir) / Path(f).name
        atomic_copy(Path(f), dst)
        out.append(dst)
    return out


# ---- generic NIfTI ------------------------------------------------------------------------
_NIFTI_IMAGE_DIRS = (*IMAGE_DIRS, "imagestr")
_NIFTI_MASK_DIRS = (*MASK_DIRS, "labelstr")


class NiftiFormat(DatasetFormat):
    """Volumes in ``image/x.nii.gz`` + ``label/x.nii.gz`` (or ``imagesTr``/``labelsTr``,
    ``images``/``labels``...), paired by file name, files directly inside those folders.
    Images are 3D, or 4D with channels last; labels 3D.
    Sample id: ``[<folder>/]x_z<k:03d>`` where ``<folder>`` holds the image/label folders; a
    one-slice volume (as the writer makes) is ``[<folder>/]x``, the id it was written under."""

    name = "nifti"
    priority = 20

    def detect(self, root: Path) -> bool:
        for dirpath, dirnames, _ in walk_visible(root):
            try:
                names = folder_pair_names(dirpath, dirnames, _NIFTI_IMAGE_DIRS, _NIFTI_MASK_DIRS)
            except DataError:
                continue
            if names and any(_NIFTI_FILE.match(p.name) for p in (dirpath / names[0]).iterdir()):
                return True
        return False

    def read(self, root: Path, **options: Any) -> Dataset:
        slices = check_slices_option(options, self.name)
        root = Path(root)
        pairs = self._pairs(root)
        if check_unit_option(options, [label for _, _, label, _ in pairs]) == "case":
            return self._read_volumes(root, pairs)
        samples: list[Sample] = []
        for pair in pairs:
            samples.extend(self._read_pair(root, *pair, slices))
        if not samples:
            raise DataError(root, "no slice has a non-zero label in any label volume",
                            "check the label files, or read every slice with slices='all'")
        return Dataset(root=root, format=self.name, samples=samples, options=slice_read_options(options, slices))

    def _pairs(self, root: Path) -> list[tuple[Path, Path, Path, tuple[str, str]]]:
        pairs, any_file = [], False
        for dirpath, dirnames, files in walk_visible(root):
            any_file = any_file or bool(files)
            names = folder_pair_names(dirpath, dirnames, _NIFTI_IMAGE_DIRS, _NIFTI_MASK_DIRS)
            if not names:
                continue
            found = []
            for role, sub in zip(("image", "label"), names):
                stems = {}
                for f in sorted((dirpath / sub).iterdir()):
                    m = _NIFTI_FILE.match(f.name)
                    if m and f.is_file() and not f.name.startswith("."):
                        if m["stem"] in stems:
                            raise DataError(f, f"this {role} and {stems[m['stem']].name} have the same name",
                                            "keep one of them")
                        stems[m["stem"]] = f
                found.append(stems)
            images, labels = found
            for stem, path in images.items():
                if stem not in labels:
                    raise DataError(path, "image volume has no label volume",
                                    f"add {dirpath / names[1] / path.name} or remove the image")
            for stem, path in labels.items():
                if stem not in images:
                    raise DataError(path, "label volume has no image volume",
                                    f"add {dirpath / names[0] / path.name} or remove the label")
            pairs.extend((dirpath, images[s], labels[s], names) for s in sorted(images, key=natural_key))
        if not any_file:
            raise DataError(root, "input folder is empty", "point --in at a folder with image/ and label/")
        if not pairs:
            raise DataError(root, "no image/ + label/ folders of .nii.gz volumes found",
                            "put volumes in image/x.nii.gz and labels in label/x.nii.gz")
        return pairs

    def _read_volumes(self, root: Path, pairs) -> Dataset:
        metas, paths = [], []
        for folder, image_path, label_path, names in pairs:
            shape, dtype = header_info(image_path, "image volume")
            check_3d(image_path, shape, "image volume", channels_ok=True)
            label_shape = header_shape(label_path, "label volume")
            check_3d(label_path, label_shape, "label volume")
            check_same_shape(label_path, label_shape[:3], image_path, shape[:3])
            rel_dir = posix_join(*folder.relative_to(root).parts)
            stem = _NIFTI_FILE.match(image_path.name)["stem"]
            metas.append({"format": self.name, "unit": "case", "case": stem,
                          "group": posix_join(rel_dir, stem), "rel_dir": rel_dir,
                          "image_dir": names[0], "label_dir": names[1], "image_ndim": len(shape),
                          "shape": list(shape[:3]), "num_slices": shape[2], "dtype": dtype,
                          "channels": shape[3] if len(shape) == 4 else 1,
                          **label_summary(label_path, "label volume"),
                          "source_files": [str(image_path.resolve()), str(label_path.resolve())]})
            check_loadable(image_path, "image volume")
            paths.append((image_path, label_path))

        return Dataset(root=root, format=self.name, samples=LazySamples(
            metas, functools.partial(_load_nifti_case, paths, metas)),
                       options={"unit": "case"})

    def _read_pair(self, root: Path, folder: Path, image_path: Path, label_path: Path,
                   names: tuple[str, str], slices: str) -> list[Sample]:
        labels, label_img = load_volume(label_path, "label volume")
        labels = label_volume(labels, label_path)
        data, img = load_volume(image_path, "image volume")
        if data.ndim not in (3, 4):
            raise DataError(image_path, f"image volume has shape {data.shape}; expected 3D or 4D "
                            "(channels last)", "give 3D volumes, or 4D with channels last")
        check_same_shape(label_path, labels.shape, image_path, data.shape[:3])
        rel_dir = posix_join(*folder.relative_to(root).parts)
        stem = _NIFTI_FILE.match(image_path.name)["stem"]
        volumes = {"image": volume_meta(image_path, img, data.dtype),
                   "label": volume_meta(label_path, label_img, label_img.get_data_dtype())}
        one_slice = labels.shape[2] == 1
        samples = []
        for k in select_slices(labels, slices):
            image = data[:, :, k] if data.ndim == 4 else data[:, :, k, None]
            meta = {"format": self.name, "case": stem, "group": posix_join(rel_dir, stem),
                    "slice": k, "num_slices": labels.shape[2],
                    "rel_dir": rel_dir, "image_dir": names[0], "label_dir": names[1],
                    "image_ndim": data.ndim, "source_volumes": volumes}
            name = stem if one_slice else f"{stem}_z{k:03d}"
            samples.append(Sample(image=np.ascontiguousarray(image),
                                  mask=np.ascontiguousarray(labels[:, :, k]),
                                  provenance=Provenance(id=posix_join(rel_dir, name)), meta=meta))
        return samples

    def write(self, sample: Sample, out_dir: Path) -> list[str]:
        """``<folder>/image/<name>.nii.gz`` + ``<folder>/label/<name>.nii.gz``, one slice each
        (a whole volume each for a volume sample; a real one copied byte for byte)."""
        if sample.is_volume:
            return self._write_volume(sample, Path(out_dir))
        out_dir = Path(out_dir)
        meta = sample.meta if sample.meta.get("format") == self.name else {}
        name = sample_name(sample)
        base = out_dir / safe_relpath(meta.get("rel_dir", ""))
        volumes, k = meta.get("source_volumes", {}), meta.get("slice", 0)
        vol = volumes.get("image")
        image = cast_like(sample.image, vol["dtype"] if vol else sample.image.dtype)
        # H×W×C → H×W×1×C for a 4D source, H×W×1 for a 3D one
        image = image[:, :, None, :] if meta.get("image_ndim", 3) == 4 or image.shape[-1] > 1 \
            else image
        files = [(base / meta.get("image_dir", "image") / f"{name}.nii.gz", encode_slice(image, vol, k))]
        if sample.mask is not None:
            target = base / meta.get("label_dir", "label") / f"{name}.nii.gz"
            files.append(mask_slice_file(sample.mask, volumes.get("label"), target, k))
        return write_files(files, out_dir)

    def _write_volume(self, sample: Sample, out_dir: Path) -> list[str]:
        meta = sample.meta if sample.meta.get("format") == self.name else {}
        base = out_dir / safe_relpath(meta.get("rel_dir", ""))
        dirs = [meta.get("image_dir", "image"), meta.get("label_dir", "label")]
        copied = copy_real(sample, meta, base, dirs)
        if copied is not None:
            return [p.relative_to(out_dir).as_posix() for p in copied]
        name = sample_name(sample)
        volumes = meta.get("source_volumes", {})
        vol = volumes.get("image")
        image = cast_like(sample.image, vol["dtype"] if vol else sample.image.dtype)
        if meta.get("image_ndim", 3 if image.shape[-1] == 1 else 4) == 3:
            image = image[..., 0]
        path = base / dirs[0] / f"{name}.nii.gz"
        atomic_write_bytes(path, encode_volume(image, vol))
        written = [path]
        if sample.mask is not None:
            vol = volumes.get("label")
            path = base / dirs[1] / f"{name}.nii.gz"
            atomic_write_bytes(path, encode_volume(
                cast_labels(sample.mask, vol["dtype"] if vol else np.int16, path), vol))
            written.append(path)
        return [p.relative_to(out_dir).as_posix() for p in written]


def _load_nifti_case(paths, metas, i: int) -> Sample:
    """Case i of a nifti read (module level, so a lazy dataset pickles into spawned workers)."""
    image_path, label_path = paths[i]
    labels, label_img = load_volume(label_path, "label volume")
    labels = label_volume(labels, label_path)
    data, img = load_volume(image_path, "image volume")
    meta = {**metas[i], "source_volumes": {
        "image": volume_meta(image_path, img, data.dtype),
        "label": volume_meta(label_path, label_img, label_img.get_data_dtype())}}
    return Sample(image=data if data.ndim == 4 else data[..., None], mask=labels,
                  provenance=Provenance(id=metas[i]["group"]), meta=meta)


__all__ = ["NiftiFormat", "check_slices_option", "check_unit_option", "select_slices", "slice_read_options"]

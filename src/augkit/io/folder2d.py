"""``paired2d``: 2D images with masks paired by name, searched recursively.

Two layouts, which may sit side by side in one tree:

- suffix: ``<dir>/x.tif`` + ``<dir>/x_mask.tif`` (the LGG layout, one folder per patient);
- folder: ``<dir>/image/x.png`` + ``<dir>/label/x.png``; the image folder may be called
  ``image`` or ``images``, the mask folder ``label``, ``labels``, ``mask`` or ``masks``, and both
  may hold the same sub-folders. Image and mask may differ in extension.

Sample ids are the image's path relative to the dataset root without extension, with the
``image/`` folder left out and ``/`` as separator: ``TCGA_CS_4943_20000902/TCGA_CS_4943_20000902_14``
for LGG, ``0`` for ``membrane/image/0.png``. They are unique (two images that would share an id
are an error) and are made of existing file and folder names, so they are safe to write back.
Samples are ordered by id in natural order (``2`` before ``10``). Files and folders whose names
start with ``.`` are ignored, as are files that are not PNG/TIFF/JPEG.

The writer gives a sample back in its source layout, in its parent's folder, named by the last
part of its id: ``TCGA_CS_4943_20000902/TCGA_CS_4943_20000902_14_aug00042`` becomes
``TCGA_CS_4943_20000902/TCGA_CS_4943_20000902_14_aug00042{.tif,_mask.tif}``. New images use the
source's extension and dtype; masks read from JPEG are written as PNG, so labels stay exact.

All masks of a dataset must use one label convention: masks with ``{0, 255}`` beside masks with
``{0, 1}``, or a value left by anti-aliasing (a 128 on mask edges), are refused with the file
named (``augkit.io.labels``; ``augkit info`` lists them); read option ``labels="as-is"`` skips
the check.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from augkit.errors import DataError, UsageError
from augkit.io.arrays import as_labels, cast_labels, cast_like, check_finite
from augkit.io.base import Dataset, DatasetFormat, atomic_copy, atomic_write_bytes
from augkit.io.images import JPEG_EXTS, encode_image, is_image_file, png_compatible, read_image
from augkit.io.labels import check_mask_labels
from augkit.sample import Provenance, Sample

MASK_SUFFIX = "_mask"
LABEL_CHOICES = ("check", "as-is")
IMAGE_DIRS = ("image", "images")
MASK_DIRS = ("label", "labels", "mask", "masks")


@dataclass
class _Pair:
    id: str
    layout: str  # "suffix" | "folder"
    image: Path
    mask: Path
    rel_dir: str  # suffix: the files' folder; folder: the folder holding image/ and label/
    sub_dir: str = ""  # folder layout: the path inside image/
    image_dir: str = ""
    mask_dir: str = ""


def natural_key(text: str) -> list:
    """Sort key that orders ``x2`` before ``x10``."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", text)]


def posix_join(*parts: str) -> str:
    """``a/b/c`` from the non-empty parts; ``""`` when there are none."""
    kept = [p for p in parts if p not in ("", ".")]
    return str(PurePosixPath(*kept)) if kept else ""


def walk_visible(root: Path):
    """``os.walk`` in sorted order, skipping hidden files and folders (``.git``, ``.tmp-*``).

    Symlinked folders are followed (datasets are often assembled from links), each real
    folder once, so a link loop cannot recurse forever."""
    seen: set[tuple[int, int]] = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        st = os.stat(dirpath)
        if (st.st_dev, st.st_ino) in seen:
            dirnames[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        yield Path(dirpath), dirnames, sorted(f for f in filenames if not f.startswith("."))


def folder_pair_names(parent: Path, subdirs: list[str], image_dirs=IMAGE_DIRS,
                      mask_dirs=MASK_DIRS) -> tuple[str, str] | None:
    """The (image folder, mask folder) names among ``subdirs`` of ``parent``, if both exist."""
    images = [d for d in subdirs if d.lower() in image_dirs]
    masks = [d for d in subdirs if d.lower() in mask_dirs]
    if not images or not masks:
        return None
    if len(images) > 1 or len(masks) > 1:
        raise DataError(parent, f"several image or mask folders side by side ({', '.join(images + masks)})",
                        "keep one image folder and one mask folder per level")
    return images[0], masks[0]


class Paired2DFormat(DatasetFormat):
    name = "paired2d"
    priority = 10

    # ---- detect ---------------------------------------------------------------------------
    def detect(self, root: Path) -> bool:
        for dirpath, dirnames, filenames in walk_visible(root):
            if any(is_image_file(Path(f)) and Path(f).stem.lower().endswith(MASK_SUFFIX)
                   for f in filenames):
                return True
            try:
                names = folder_pair_names(dirpath, dirnames)
            except DataError:
                return True  # it is ours; read() reports the ambiguity
            if names and any(is_image_file(p) for p in (dirpath / names[0]).rglob("*")):
                return True
        return False

    # ---- read -----------------------------------------------------------------------------
    def read(self, root: Path, **options: Any) -> Dataset:
        """``labels="check"`` (default) refuses masks that mix label conventions or carry
        anti-aliasing values (``augkit.io.labels``); ``labels="as-is"`` reads them anyway."""
        options = {k: v for k, v in options.items() if v is not None}  # None: the default
        labels = options.pop("labels", "check")
        if options:
            raise UsageError(f"format {self.name!r} takes the read option 'labels' only; "
                             f"received {sorted(options)}")
        if labels not in LABEL_CHOICES:
            raise UsageError(f"labels must be one of {LABEL_CHOICES}. Received: labels={labels!r}")
        root = Path(root)
        if not root.is_dir():
            raise DataError(root, "input folder does not exist", "check the path given to --in")
        pairs = self._pairs(root)
        samples = [self._read_pair(root, p) for p in pairs]
        if labels == "check":
            check_mask_labels([(p.mask, s.mask) for p, s in zip(pairs, samples)])
        return Dataset(root=root, format=self.name, samples=samples,
                       options={} if labels == "check" else {"labels": labels})

    def _pairs(self, root: Path) -> list[_Pair]:
        images: dict[tuple, list[Path]] = {}
        masks: dict[tuple, list[Path]] = {}
        info: dict[tuple, dict] = {}
        any_file = False
        pair_dirs: dict[Path, tuple[str, str] | None] = {}
        for dirpath, dirnames, filenames in walk_visible(root):
            pair_dirs[dirpath] = folder_pair_names(dirpath, dirnames)
            any_file = any_file or bool(filenames)
            for fname in filenames:
                path = dirpath / fname
                if not is_image_file(path):
                    continue
                key, role, extra = self._classify(root, path, pair_dirs)
                (masks if role == "mask" else images).setdefault(key, []).append(path)
                info.setdefault(key, extra)
        if not any_file:
            raise DataError(root, "input folder is empty", "point --in at a folder of images and masks")
        if not images and not masks:
            raise DataError(root, "no PNG, TIFF or JPEG files found",
                            "give a folder of x.png + x_mask.png pairs or image/ + label/ folders")
        for table, what in ((images, "image"), (masks, "mask")):
            for paths in table.values():
                if len(paths) > 1:
                    raise DataError(paths[1], f"this {what} and {paths[0].name} map to the same sample",
                                    f"keep one {what} per name (rename or remove one of them)")
        self._check_orphans(images, masks, info, root)
        pairs = [_Pair(image=images[k][0], mask=masks[k][0], **info[k]) for k in images]
        return sorted(pairs, key=lambda p: natural_key(p.id))

    @staticmethod
    def _classify(root: Path, path: Path, pair_dirs: dict) -> tuple[tuple, str, dict]:
        rel = path.relative_to(root)
        dirs = rel.parts[:-1]
        stem = path.stem
        # Innermost image/ or label/ folder that has its partner beside it: folder layout.
        for i in range(len(dirs) - 1, -1, -1):
            names = pair_dirs.get(root.joinpath(*dirs[:i]))
            if names and dirs[i] in names:
                rel_dir, sub = posix_join(*dirs[:i]), posix_join(*dirs[i + 1:])
                role = "image" if dirs[i] == names[0] else "mask"
                pid = posix_join(rel_dir, sub, stem)
                return (("folder", rel_dir, sub, stem), role, dict(
                    id=pid, layout="folder", rel_dir=rel_dir, sub_dir=sub,
                    image_dir=names[0], mask_dir=names[1]))
        rel_dir = posix_join(*dirs)
        role = "mask" if stem.lower().endswith(MASK_SUFFIX) else "image"
        if role == "mask":
            stem = stem[: -len(MASK_SUFFIX)]
        return (("suffix", rel_dir, stem), role,
                dict(id=posix_join(rel_dir, stem), layout="suffix", rel_dir=rel_dir))

    @staticmethod
    def _check_orphans(images: dict, masks: dict, info: dict, root: Path) -> None:
        def expected_mask(key, image: Path) -> str:
            if key[0] == "suffix":
                return f"{image.stem}{MASK_SUFFIX}{image.suffix} next to it"
            i = info[key]
            return str(PurePosixPath(i["rel_dir"] or ".", i["mask_dir"], i["sub_dir"] or ".",
                                     image.stem + ".*"))

        lonely = sorted((k for k in images if k not in masks), key=lambda k: images[k][0])
        if lonely:
            image = images[lonely[0]][0]
            more = f" ({len(lonely) - 1} more images lack masks)" if len(lonely) > 1 else ""
            raise DataError(image, f"image has no mask{more}",
                            f"add its mask as {expected_mask(lonely[0], image)} or remove the image")
        orphans = sorted((k for k in masks if k not in images), key=lambda k: masks[k][0])
        if orphans:
            mask = masks[orphans[0]][0]
            more = f" ({len(orphans) - 1} more masks lack images)" if len(orphans) > 1 else ""
            raise DataError(mask, f"mask has no image{more}",
                            "add the image with the same name or remove the mask")

    def _read_pair(self, root: Path, pair: _Pair) -> Sample:
        image = read_image(pair.image, role="image")
        check_finite(image, pair.image)
        mask = _single_channel(read_image(pair.mask, role="mask"), pair.mask)
        mask = as_labels(mask, pair.mask)
        if mask.shape != image.shape[:2]:
            raise DataError(pair.mask, f"mask shape {mask.shape} does not match image shape "
                            f"{image.shape} of {pair.image.name}",
                            "save image and mask at the same height and width")
        meta = {
            "format": self.name,
            "layout": pair.layout,
            "source_files": [str(pair.image.resolve()), str(pair.mask.resolve())],
            "relpath": {"image": pair.image.relative_to(root).as_posix(),
                        "mask": pair.mask.relative_to(root).as_posix()},
            "rel_dir": pair.rel_dir,
            "image_ext": pair.image.suffix,
            "mask_ext": pair.mask.suffix,
            "image_dtype": str(image.dtype),
            "mask_dtype": str(mask.dtype),
            # the patient: the folder the pair sits in (LGG); none for a flat folder (membrane)
            "group": posix_join(pair.rel_dir, pair.sub_dir) or None,
        }
        if pair.layout == "suffix":
            meta["mask_suffix"] = pair.mask.stem[len(pair.image.stem):]
        else:
            meta.update(image_dir=pair.image_dir, mask_dir=pair.mask_dir, sub_dir=pair.sub_dir)
        return Sample(image=image, mask=mask, provenance=Provenance(id=pair.id), meta=meta)

    # ---- write ----------------------------------------------------------------------------
    def write(self, sample: Sample, out_dir: Path) -> list[str]:
        out_dir = Path(out_dir)
        meta = sample.meta if sample.meta.get("format") == self.name else {}
        if sample.provenance.source == "real" and meta.get("source_files") and meta.get("relpath"):
            sources = [Path(p) for p in meta["source_files"]]
            targets = [meta["relpath"]["image"], meta["relpath"]["mask"]]
            if all(p.is_file() for p in sources):
                for src, rel in zip(sources, targets):
                    atomic_copy(src, out_dir / safe_relpath(rel))
                return targets

        name = safe_name(sample.id.rsplit("/", 1)[-1])
        rel_dir = safe_relpath(meta.get("rel_dir", ""))
        image = sample.image
        if meta.get("image_dtype"):
            image = cast_like(image, meta["image_dtype"])
        image_ext = meta.get("image_ext") or (".png" if png_compatible(image) else ".tif")
        mask, mask_ext = sample.mask, meta.get("mask_ext", "")
        if mask is not None:
            mask, mask_ext = _mask_for_writing(mask, meta.get("mask_dtype"), mask_ext, out_dir)

        if meta.get("layout") == "folder":
            base, sub = out_dir / rel_dir, safe_relpath(meta.get("sub_dir", ""))
            image_path = base / meta["image_dir"] / sub / f"{name}{image_ext}"
            mask_path = base / meta["mask_dir"] / sub / f"{name}{mask_ext}"
        else:
            base = out_dir / rel_dir
            image_path = base / f"{name}{image_ext}"
            mask_path = base / f"{name}{meta.get('mask_suffix', MASK_SUFFIX)}{mask_ext}"

        written = [(image_path, encode_image(image, image_ext))]
        if mask is not None:
            written.append((mask_path, encode_image(mask, mask_ext)))
        for path, data in written:
            atomic_write_bytes(path, data)
        return [p.relative_to(out_dir).as_posix() for p, _ in written]


def _single_channel(mask: np.ndarray, path: Path) -> np.ndarray:
    """A label image saved as RGB(A) or gray+alpha with equal colour channels is one channel."""
    if mask.ndim == 2:
        return mask
    colours = mask[..., :3] if mask.shape[-1] in (3, 4) else mask[..., :1]
    if all(np.array_equal(colours[..., 0], colours[..., c]) for c in range(1, colours.shape[-1])):
        return np.ascontiguousarray(mask[..., 0])
    raise DataError(path, f"mask has {mask.shape[-1]} channels with different values; "
                    "expected a single-channel label image",
                    "save masks as grayscale images whose pixel values are the class labels")


def _mask_for_writing(mask: np.ndarray, dtype: str | None, ext: str, out_dir: Path):
    if dtype:
        mask = cast_labels(mask, dtype, out_dir)
    else:
        top = int(mask.max()) if mask.size else 0
        mask = cast_labels(mask, np.uint8 if top < 256 else np.uint16 if top < 65536 else np.int32,
                           out_dir)
    if not ext or ext.lower() in JPEG_EXTS:  # JPEG would blur the labels
        ext = ".png" if png_compatible(mask) else ".tif"
    return mask, ext


_UNSAFE = re.compile(r'[\x00-\x1f<>:"/\\|?*]')


def safe_name(name: str) -> str:
    """One path component: separators and characters Windows forbids become ``_``."""
    name = _UNSAFE.sub("_", name).strip()
    if name in ("", ".", ".."):
        raise UsageError(f"sample id {name!r} cannot be used as a file name")
    return name


def safe_relpath(rel: str) -> Path:
    """A relative path from ``meta`` that stays inside the output folder."""
    parts = [p for p in PurePosixPath(rel).parts if p not in ("", ".")]
    if PurePosixPath(rel).is_absolute() or ".." in parts:
        raise UsageError(f"refusing to write outside the output folder: {rel!r}")
    return Path(*parts) if parts else Path()

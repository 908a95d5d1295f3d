"""BraTS case folders: ``<case>/<case>_{flair,t1,t1ce,t2,seg}.nii.gz``. The four modalities
become channels and the labels 0/1/2/4 are kept. ``unit`` and ``slices`` read options as for
generic NIfTI folders (``augkit.io.nifti``, whose slice and case helpers this format shares);
a new case or slice is written back in the BraTS layout with its source files' affine and
header."""

from __future__ import annotations

import functools
import re
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from augkit.errors import DataError, UsageError
from augkit.io.arrays import cast_labels, cast_like
from augkit.io.base import Dataset, DatasetFormat, atomic_write_bytes
from augkit.io.folder2d import (natural_key,
                                posix_join, safe_name, safe_relpath, walk_visible)
from augkit.io.nifti import (check_same_shape, check_slices_option, check_unit_option, copy_real, label_volume,
                              mask_slice_file, nifti_ext, sample_name, select_slices, slice_read_options,
                              volume_meta, write_files)
from augkit.io.nifti_file import (check_3d, check_loadable, encode_slice, encode_volume,
                                header_info, header_shape, label_summary, load_volume)
from augkit.io.volumes import LazySamples
from augkit.sample import Provenance, Sample


MODALITIES = ("flair", "t1", "t1ce", "t2")
_BRATS_FILE = re.compile(r"^(?P<case>.+)_(?P<kind>flair|t1|t1ce|t2|seg)(?P<ext>\.nii(?:\.gz)?)$",
                         re.IGNORECASE)


class BratsFormat(DatasetFormat):
    """BraTS case folders: ``<case>/<case>_{flair,t1,t1ce,t2,seg}.nii.gz``.

    The four modalities become channels in the order flair, t1, t1ce, t2 (``meta["channel_names"]``);
    the seg labels (0/1/2/4) are the mask, kept as they are. Sample id: ``<case>/<case>_z<k:03d>``.

    A sample is written as a one-slice case ``<name>/<name>_*.nii.gz`` (``<name>``: the last part
    of its id) inside a folder named after its source case, e.g. ``Brats18_X/Brats18_X_z039/``. A
    one-slice case read from such a place (its folder is ``P`` and its name starts with ``P_``)
    gets the id ``P/<name>``: the id it was written under. Other one-slice cases: ``<case>``.
    ``meta["group"]`` is the source case either way (what ``expand`` spreads parents over).
    """

    name = "brats"
    priority = 30

    def detect(self, root: Path) -> bool:
        return any(_BRATS_FILE.match(f) and _BRATS_FILE.match(f)["kind"].lower() in ("flair", "seg")
                   for _, _, files in walk_visible(root) for f in files)

    def read(self, root: Path, **options: Any) -> Dataset:
        slices = check_slices_option(options, self.name)
        root = Path(root)
        cases = self._cases(root)
        if check_unit_option(options, [files["seg"] for _, files in cases]) == "case":
            return self._read_volumes(root, cases)
        samples: list[Sample] = []
        for (folder, case), files in cases:
            samples.extend(self._read_case(root, folder, case, files, slices))
        if not samples:
            raise DataError(root, "no slice has a non-zero label in any seg volume",
                            "check the seg files, or read every slice with slices='all'")
        return Dataset(root=root, format=self.name, samples=samples, options=slice_read_options(options, slices))

    def _cases(self, root: Path) -> list[tuple[tuple[Path, str], dict[str, Path]]]:
        cases: dict[tuple[Path, str], dict[str, Path]] = {}
        any_file = False
        for dirpath, _, files in walk_visible(root):
            any_file = any_file or bool(files)
            for f in files:
                m = _BRATS_FILE.match(f)
                if m:
                    kinds = cases.setdefault((dirpath, m["case"]), {})
                    kind = m["kind"].lower()
                    if kind in kinds:
                        raise DataError(dirpath / f, f"case {m['case']} has two {kind} volumes "
                                        f"({kinds[kind].name} and {f})", "keep one of them")
                    kinds[kind] = dirpath / f
        if not any_file:
            raise DataError(root, "input folder is empty", "point --in at a folder of BraTS case folders")
        if not cases:
            raise DataError(root, "no BraTS files (<case>_{flair,t1,t1ce,t2,seg}.nii.gz) found",
                            "arrange the volumes as BraTS case folders or pass another --format")
        for (folder, case), kinds in cases.items():
            missing = [k for k in (*MODALITIES, "seg") if k not in kinds]
            if missing:
                ext = nifti_ext(next(iter(kinds.values())).name)
                raise DataError(folder / f"{case}_{missing[0]}{ext}",
                                f"BraTS case {case} has no {', '.join(missing)} volume "
                                f"(found {', '.join(sorted(kinds))})",
                                "add the missing volume or remove the incomplete case folder")
        return sorted(cases.items(), key=lambda kv: natural_key(str(kv[0][0] / kv[0][1])))

    def _read_volumes(self, root: Path, cases) -> Dataset:
        """Every case checked now (headers; seg values), loaded only when indexed."""
        metas, ids, all_files = [], [], []
        for (folder, case), files in cases:
            flair, dtype = header_info(files["flair"], "flair volume")
            check_3d(files["flair"], flair, "flair volume")
            for kind in (*MODALITIES[1:], "seg"):
                shape = header_shape(files[kind], f"{kind} volume")
                check_3d(files[kind], shape, f"{kind} volume")
                check_same_shape(files[kind], shape[:3], files["flair"], flair[:3])
            rel_dir = posix_join(*folder.relative_to(root).parts)
            ids.append(rel_dir if PurePosixPath(rel_dir).name == case else posix_join(rel_dir, case))
            metas.append({"format": self.name, "unit": "case", "case": case, "group": case,
                          "rel_dir": rel_dir, "channel_names": list(MODALITIES),
                          "shape": list(flair[:3]), "num_slices": flair[2], "dtype": dtype,
                          **label_summary(files["seg"], "seg volume"),
                          "source_files": [str(files[k].resolve()) for k in (*MODALITIES, "seg")]})
            for kind in MODALITIES:
                check_loadable(files[kind], f"{kind} volume")
            all_files.append(files)

        return Dataset(root=root, format=self.name, samples=LazySamples(
            metas, functools.partial(_load_brats_case, all_files, metas, ids)),
                       options={"unit": "case"})

    def _read_case(self, root: Path, folder: Path, case: str, files: dict[str, Path],
                   slices: str) -> list[Sample]:
        labels, channels, volumes = _load_brats_volumes(files, whole_case=False)
        rel_dir = posix_join(*folder.relative_to(root).parts)
        holder = PurePosixPath(rel_dir).parent.name  # "" when the case folder is at the top
        one_slice = labels.shape[2] == 1
        group = holder if one_slice and holder and case.startswith(holder + "_") else case
        samples = []
        for k in select_slices(labels, slices):
            image = np.stack([c[:, :, k] for c in channels], axis=-1)
            meta = {"format": self.name, "case": case, "group": group, "slice": k,
                    "num_slices": labels.shape[2], "channel_names": list(MODALITIES),
                    "rel_dir": rel_dir, "source_volumes": volumes}
            sample_id = (posix_join(holder, case) if group == holder else case) if one_slice \
                else f"{case}/{case}_z{k:03d}"
            samples.append(Sample(image=image, mask=np.ascontiguousarray(labels[:, :, k]),
                                  provenance=Provenance(id=sample_id), meta=meta))
        return samples

    def write(self, sample: Sample, out_dir: Path) -> list[str]:
        """``<case>/<name>/<name>_{flair,t1,t1ce,t2,seg}.nii.gz``, each H×W×1: inside a folder
        named after the source case (beside the source when that is a one-slice case), so the
        reader gives the sample back under its id ``<case>/<name>``.

        A volume (``unit="case"``) is written as a whole case ``<name>/<name>_*.nii.gz`` beside
        its source case; a real one is a byte copy of its files."""
        if sample.is_volume:
            return self._write_volume(sample, Path(out_dir))
        out_dir = Path(out_dir)
        meta = sample.meta if sample.meta.get("format") == self.name else {}
        name = sample_name(sample)
        source_dir = safe_relpath(meta.get("rel_dir", ""))
        if meta.get("num_slices", 1) > 1:  # a slice of a volume: into a folder named after its case
            case_dir = out_dir / source_dir.parent / safe_name(meta["case"]) / name
        else:  # a one-slice case already sits in its source case's folder: beside it
            case_dir = out_dir / source_dir.parent / name
        if sample.image.shape[-1] != len(MODALITIES):
            raise UsageError(f"sample {sample.id!r} has {sample.image.shape[-1]} channels; the BraTS "
                             f"writer needs {len(MODALITIES)} ({', '.join(MODALITIES)})")
        volumes, k = meta.get("source_volumes", {}), meta.get("slice", 0)
        files = []
        for c, kind in enumerate(MODALITIES):
            vol = volumes.get(kind)
            data = cast_like(sample.image[:, :, c], vol["dtype"] if vol else np.int16)
            files.append((case_dir / f"{name}_{kind}.nii.gz", encode_slice(data[:, :, None], vol, k)))
        if sample.mask is not None:
            files.append(mask_slice_file(sample.mask, volumes.get("seg"), case_dir / f"{name}_seg.nii.gz", k))
        return write_files(files, out_dir)


    def _write_volume(self, sample: Sample, out_dir: Path) -> list[str]:
        meta = sample.meta if sample.meta.get("format") == self.name else {}
        copied = copy_real(sample, meta, out_dir / safe_relpath(meta.get("rel_dir", "")))
        if copied is not None:
            return [p.relative_to(out_dir).as_posix() for p in copied]
        if sample.image.shape[-1] != len(MODALITIES):
            raise UsageError(f"sample {sample.id!r} has {sample.image.shape[-1]} channels; the BraTS "
                             f"writer needs {len(MODALITIES)} ({', '.join(MODALITIES)})")
        name = sample_name(sample)
        case_dir = out_dir / safe_relpath(meta.get("rel_dir", "")).parent / name
        volumes, written = meta.get("source_volumes", {}), []
        for c, kind in enumerate(MODALITIES):
            vol = volumes.get(kind)
            path = case_dir / f"{name}_{kind}.nii.gz"
            atomic_write_bytes(path, encode_volume(
                cast_like(sample.image[..., c], vol["dtype"] if vol else np.int16), vol))
            written.append(path)
        if sample.mask is not None:
            vol = volumes.get("seg")
            path = case_dir / f"{name}_seg.nii.gz"
            atomic_write_bytes(path, encode_volume(
                cast_labels(sample.mask, vol["dtype"] if vol else np.int16, path), vol))
            written.append(path)
        return [p.relative_to(out_dir).as_posix() for p in written]


def _load_brats_volumes(files: dict[str, Path], *, whole_case: bool):
    """A BraTS case's label volume, its four modality volumes and their file metas. For slices,
    each modality must match the seg's shape; a whole case (headers checked at read time) drops
    a trailing channel axis of length one."""
    labels, seg_img = load_volume(files["seg"], "seg volume")
    labels = label_volume(labels, files["seg"])
    volumes = {"seg": volume_meta(files["seg"], seg_img, seg_img.get_data_dtype())}
    channels = []
    for kind in MODALITIES:
        data, img = load_volume(files[kind], f"{kind} volume")
        if whole_case:
            data = data[..., 0] if data.ndim == 4 else data
        else:
            check_same_shape(files[kind], data.shape, files["seg"], labels.shape)
        channels.append(data)
        volumes[kind] = volume_meta(files[kind], img, data.dtype)
    return labels, channels, volumes


def _load_brats_case(all_files, metas, ids, i: int) -> Sample:
    """Case i of a brats read (module level, so a lazy dataset pickles into spawned workers)."""
    files = all_files[i]
    labels, channels, volumes = _load_brats_volumes(files, whole_case=True)
    meta = {**metas[i], "source_volumes": volumes}
    return Sample(image=np.stack(channels, axis=-1), mask=labels,
                  provenance=Provenance(id=ids[i]), meta=meta)


__all__ = ["MODALITIES", "BratsFormat"]

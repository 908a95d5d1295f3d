"""Every format round-trips: what ``expand`` writes reads back through ``read_dataset``, the
sampler (``FolderSource``, ``MixedSampler.from_expanded``) and ``augkit evaluate``, under the ids
its manifest lists. Real data from ../shared/data (a few files of each set, linked)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from augkit.cli import cli
from augkit.expand.manifest import read_manifest
from augkit.expand.run import expand
from augkit.io import read_dataset
from augkit.sampling import FolderSource, MixedSampler

NUM_ADDED = 3


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(src, dst)


def _lgg(shared_data: Path, root: Path) -> None:
    for patient in sorted((shared_data / "lgg" / "train30").iterdir())[:3]:
        _link(patient, root / patient.name)


def _membrane(shared_data: Path, root: Path) -> None:
    for i in range(3):
        for sub in ("image", "label"):
            _link(shared_data / "membrane" / sub / f"{i}.png", root / sub / f"{i}.png")


def _brats(shared_data: Path, root: Path) -> None:
    """Three tumour slices of a real case, cut out of its volumes with their affine."""
    import nibabel as nib

    case = sorted((shared_data / "brats").iterdir())[0]
    (root / case.name).mkdir(parents=True)
    for kind in ("flair", "t1", "t1ce", "t2", "seg"):
        img = nib.load(case / f"{case.name}_{kind}.nii.gz")
        nib.save(img.slicer[:, :, 70:73], root / case.name / f"{case.name}_{kind}.nii.gz")


def _nifti(shared_data: Path, root: Path) -> None:
    """Generic image/ + label/ volumes: the FLAIR and seg of a real case, three slices."""
    import nibabel as nib

    case = sorted((shared_data / "brats").iterdir())[0]
    for kind, sub in (("flair", "image"), ("seg", "label")):
        img = nib.load(case / f"{case.name}_{kind}.nii.gz")
        (root / sub).mkdir(parents=True, exist_ok=True)
        nib.save(img.slicer[:, :, 70:73], root / sub / f"{case.name}.nii.gz")


def _classfolders(shared_data: Path, root: Path) -> None:
    """LGG FLAIR channels filed by the patients' WHO grade folders."""
    import tifffile
    from PIL import Image

    for i, patient in enumerate(sorted((shared_data / "lgg" / "train30").iterdir())[:4]):
        tif = next(p for p in sorted(patient.glob("*.tif")) if not p.stem.endswith("_mask"))
        flair = tifffile.imread(tif)[::4, ::4, 1]
        (root / f"G{2 + i % 2}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(flair).save(root / f"G{2 + i % 2}" / f"{tif.stem}.png")


def _tabimage(shared_data: Path, root: Path) -> None:
    """Image + patient table: LGG FLAIR slices joined to the authors' per-patient rows."""
    import csv

    import tifffile
    from PIL import Image

    with open(shared_data / "lgg" / "patients_train30.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))[:4]
    (root / "images").mkdir(parents=True)
    for row in rows:
        tif = next(p for p in sorted((shared_data / "lgg" / "train30" / row["case"]).glob("*.tif"))
                   if not p.stem.endswith("_mask"))
        Image.fromarray(tifffile.imread(tif)[::4, ::4, 1]).save(root / "images" / f"{row['case']}.png")
    columns = ["case", "age_at_initial_pathologic", "gender", "death01"]
    with open(root / "patients.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


# NIfTI here is the slice flow (--unit slice); whole cases: tests/io/test_volumes.py
MAKERS = {"paired2d-lgg": (_lgg, "paired2d"), "paired2d-membrane": (_membrane, "paired2d"),
          "brats": (_brats, "brats"), "nifti": (_nifti, "nifti"),
          "classfolders": (_classfolders, "classfolders"), "tabimage": (_tabimage, "tabimage")}


@pytest.fixture(scope="module", params=sorted(MAKERS))
def expanded(request, shared_data, tmp_path_factory):
    make, fmt = MAKERS[request.param]
    root = tmp_path_factory.mktemp(request.param)
    src, out = root / "in", root / "out"
    make(shared_data, src)
    real = read_dataset(src, **({"unit": "slice"} if fmt in ("brats", "nifti") else {}))
    assert real.format == fmt
    expand(src, len(real) + NUM_ADDED, out, seed=0, progress=False, dataset=real)
    return real, out


def test_expand_output_reads_back_under_the_manifest_ids(expanded):
    real, out = expanded
    rows = read_manifest(out / "manifest.csv")
    back = read_dataset(out)
    assert back.format == real.format
    assert sorted(s.id for s in back) == sorted(r["id"] for r in rows)
    assert len(back) == len(real) + NUM_ADDED


def test_expand_output_feeds_the_sampler(expanded):
    real, out = expanded
    synthetic = FolderSource(out)
    assert len(synthetic) == NUM_ADDED
    assert {s.provenance.parent_id for s in synthetic.samples} <= {s.id for s in real}
    sampler = MixedSampler.from_expanded(out, synthetic_fraction=0.5, seed=0)
    assert sorted(s.id for s in sampler.real.samples) == sorted(s.id for s in real)
    item = sampler[0]
    assert item.image.shape == real[0].image.shape


def test_expand_output_is_evaluated(expanded, tmp_path):
    real, out = expanded
    result = CliRunner().invoke(cli, ["evaluate", "--real", str(real.root), "--synthetic", str(out),
                                      "--out", str(tmp_path / "report")])
    assert result.exit_code == 0, result.output
    report = tmp_path / "report"
    if real.format == "tabimage":  # image + table data: one report for each half
        assert (report / "table" / "metrics.json").is_file()
        report = report / "images"
    metrics = json.loads((report / "metrics.json").read_text())
    assert metrics["num_synthetic"] == NUM_ADDED and metrics["num_real"] >= 3


def test_a_second_expand_of_an_expanded_brats_folder_round_trips(shared_data, tmp_path):
    src = tmp_path / "in"
    _brats(shared_data, src)
    real = read_dataset(src, unit="slice")
    expand(src, 5, tmp_path / "once", seed=0, progress=False, read_options={"unit": "slice"})
    expand(tmp_path / "once", 7, tmp_path / "twice", seed=1, progress=False)
    rows = read_manifest(tmp_path / "twice" / "manifest.csv")
    back = read_dataset(tmp_path / "twice")
    assert sorted(s.id for s in back) == sorted(r["id"] for r in rows)
    assert len(FolderSource(tmp_path / "twice").samples) == 2
    # every sample still sits in its source case's folder, which is its group
    case = real[0].meta["case"]
    assert {s.meta["group"] for s in back} == {case}
    first = next(s for s in back if s.id == real[0].id)
    np.testing.assert_array_equal(first.image, real[0].image)

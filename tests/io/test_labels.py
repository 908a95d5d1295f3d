"""One label convention per dataset: mixed {0,255}/{0,1} masks and anti-aliasing values are
refused at read time (issue 14.8), listed by ``augkit info``, and real data passes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
from click.testing import CliRunner

from augkit.cli import cli
from augkit.errors import DataError
from augkit.io import read_dataset
from augkit.io.info import describe

IMAGE = np.full((24, 24, 3), 90, np.uint8)


def square(value: int, size: int = 24) -> np.ndarray:
    mask = np.zeros((size, size), np.uint8)
    mask[6:16, 6:16] = value
    return mask


def antialiased(size: int = 48) -> np.ndarray:
    """A 255 square with a one-pixel ring of 128 around it (a smoothed edge)."""
    mask = np.zeros((size, size), np.uint8)
    mask[5:17, 5:17] = 128
    mask[6:16, 6:16] = 255
    return mask


def _lgg_pairs(shared_data, n=3):
    files = {}
    for patient in sorted((shared_data / "lgg" / "train30").iterdir())[:n]:
        image = next(p for p in sorted(patient.glob("*.tif")) if not p.stem.endswith("_mask"))
        files[f"{patient.name}/{image.name}"] = tifffile.imread(image)
        files[f"{patient.name}/{image.stem}_mask.tif"] = tifffile.imread(image.with_name(image.stem + "_mask.tif"))
    return files


def test_masks_mixing_0_255_and_0_1_are_refused_naming_one_of_each(tmp_dataset):
    root = tmp_dataset({"a.png": IMAGE, "a_mask.png": square(255), "b.png": IMAGE, "b_mask.png": square(255),
                        "c.png": IMAGE, "c_mask.png": square(1)})
    with pytest.raises(DataError) as info:
        read_dataset(root)
    message = str(info.value)
    assert "c_mask.png" in message and "a_mask.png" in message and "\n" not in message
    assert "{0, 1}" in message and "{0, 255}" in message and "Fix:" in message
    assert len(read_dataset(root, labels="as-is")) == 3  # the way around for the knowing


def test_an_antialiasing_value_on_a_real_lgg_mask_is_refused(shared_data, tmp_dataset):
    files = _lgg_pairs(shared_data)
    name = next(k for k in files if k.endswith("_mask.tif"))
    mask = files[name].copy()
    tumour = mask == 255
    from scipy import ndimage

    mask[ndimage.binary_dilation(tumour) & ~tumour] = 128  # what a bilinear resize leaves
    files[name] = mask
    root = tmp_dataset(files)
    with pytest.raises(DataError, match="mask value 128 .* likely anti-aliasing") as info:
        read_dataset(root)
    assert name.split("/")[-1] in str(info.value)


def test_info_lists_label_problems_instead_of_refusing(tmp_dataset):
    from augkit.io.info import read_for_info

    big = np.full((48, 48, 3), 90, np.uint8)
    root = tmp_dataset({"a.png": big, "a_mask.png": antialiased(), "b.png": big, "b_mask.png": square(255, 48),
                        "c.png": big, "c_mask.png": square(1, 48)})
    d = describe(read_for_info(root))
    assert len(d["label_notes"]) == 2
    assert "mask value 128" in d["label_notes"][0] and "a_mask.png" in d["label_notes"][0]
    assert "two label conventions" in d["label_notes"][1]
    result = CliRunner().invoke(cli, ["info", str(root)])
    assert result.exit_code == 0, result.output
    assert "warning:   mask value 128" in result.output
    as_json = json.loads(CliRunner().invoke(cli, ["info", str(root), "--json"]).output)
    assert as_json["label_notes"] == d["label_notes"]


def test_expand_refuses_mixed_masks_and_writes_nothing(tmp_dataset, tmp_path):
    root = tmp_dataset({"a.png": IMAGE, "a_mask.png": square(255), "b.png": IMAGE, "b_mask.png": square(1)})
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["expand", "--in", str(root), "--to", "4", "--out", str(out)])
    assert result.exit_code == 2 and "label conventions" in result.output
    assert "Traceback" not in result.output and not out.exists()


@pytest.mark.parametrize("masks", [
    [square(255), square(255)],
    [square(1), square(2), square(4)],           # several classes, one per mask
    [np.where(np.pad(np.ones((3, 3)), ((9, 12), (9, 12))) > 0, 1, square(2))],  # a small core inside a lesion
    [antialiased() // 64] * 3,                   # a contour class (2) in every mask: a real class
])
def test_real_classes_are_not_taken_for_antialiasing(masks):
    from augkit.io.labels import mask_label_findings

    assert mask_label_findings([(str(i), m.astype(np.uint8)) for i, m in enumerate(masks)]) == []


def test_the_shared_data_passes(shared_data):
    for name in ("lgg/train30", "membrane"):
        assert describe(read_dataset(shared_data / name))["label_notes"] == []


def _stray(mask: np.ndarray, pattern: str) -> np.ndarray:
    """20 pixels of 128 in a {0, 255} mask, placed by ``pattern``."""
    from scipy import ndimage

    mask = mask.copy()
    tumour = mask == 255
    where = {"inside": tumour & ndimage.binary_erosion(tumour, iterations=3),
             "background": ~ndimage.binary_dilation(tumour, iterations=10),
             "edge": ndimage.binary_dilation(tumour) & ~tumour}[pattern] if pattern != "scattered" else None
    if where is None:
        ys, xs = np.random.default_rng(0).integers(0, mask.shape[0], (2, 20))
    else:
        ys, xs = np.nonzero(where)
        pick = np.random.default_rng(0).choice(len(ys), 20, replace=False)
        ys, xs = ys[pick], xs[pick]
    mask[ys, xs] = 128
    assert (mask == 128).sum() == 20
    return mask


@pytest.mark.parametrize("pattern", ["inside", "background", "scattered", "edge"])
def test_a_stray_value_in_a_real_lgg_mask_is_refused_in_any_pattern(shared_data, tmp_dataset, pattern):
    files = _lgg_pairs(shared_data)
    name = next(k for k in files if k.endswith("_mask.tif"))
    files[name] = _stray(files[name], pattern)
    root = tmp_dataset(files)
    with pytest.raises(DataError, match="mask value 128 covers only 20 pixels in 1 of 3 masks") as info:
        read_dataset(root)
    message = str(info.value)
    assert name.split("/")[-1] in message and "\n" not in message
    assert "labels=as-is" in message  # how to read them as they are, if that is what is wanted


def test_a_stray_value_is_not_copied_by_expand(shared_data, tmp_dataset, tmp_path):
    files = _lgg_pairs(shared_data)
    name = next(k for k in files if k.endswith("_mask.tif"))
    files[name] = _stray(files[name], "inside")
    root = tmp_dataset(files)
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["expand", "--in", str(root), "--to", "6", "--out", str(out)])
    assert result.exit_code == 2 and "mask value 128" in result.output and name.split("/")[-1] in result.output
    assert "Traceback" not in result.output and not out.exists()


def test_info_header_shows_only_the_read_options_given(tmp_dataset):
    root = tmp_dataset({"a.png": IMAGE, "a_mask.png": square(255), "b.png": IMAGE, "b_mask.png": square(255)})
    header = CliRunner().invoke(cli, ["info", str(root)]).output.splitlines()[0]
    assert header == f"{root}: paired2d"  # info reads leniently, but nobody asked for labels=as-is
    assert json.loads(CliRunner().invoke(cli, ["info", str(root), "--json"]).output)["options"] == {}
    asked = CliRunner().invoke(cli, ["info", str(root), "--read-option", "labels=as-is"]).output.splitlines()[0]
    assert asked == f"{root}: paired2d (labels=as-is)"

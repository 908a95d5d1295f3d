"""paired2d: the LGG suffix layout and the membrane folder layout, writers, bad inputs."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import tifffile

from augkit.errors import DataError
from augkit.io import detect_format, read_dataset
from augkit.io.folder2d import Paired2DFormat
from augkit.sample import Provenance, Sample

FMT = Paired2DFormat()


@pytest.fixture(scope="module")
def lgg(shared_data):
    return read_dataset(shared_data / "lgg" / "train30")


@pytest.fixture(scope="module")
def membrane(shared_data):
    return read_dataset(shared_data / "membrane")


def _rng(seed=0):
    return np.random.default_rng(seed)


def _img(shape=(16, 16), dtype=np.uint8, seed=0):
    return _rng(seed).integers(0, 200, shape).astype(dtype)


def _mask(shape=(16, 16)):
    m = np.zeros(shape, np.uint8)
    m[4:9, 5:12] = 255
    return m


def _variant(sample: Sample, suffix="_aug00042") -> Sample:
    """What a transform hands back: new id, float image, same meta."""
    image = np.flip(sample.image, axis=1).astype(np.float32) + 0.4
    mask = np.flip(sample.mask, axis=1).astype(np.int64)
    prov = Provenance(id=sample.id + suffix, source="classical", parent_id=sample.id, seed=42)
    return sample.derive(image=image, mask=mask, provenance=prov)


# ---- reading the real data ---------------------------------------------------------------------
def test_lgg_train30_reads_30_rgb_slices_with_binary_masks(lgg, shared_data):
    assert lgg.format == "paired2d"
    assert len(lgg) == 30
    for s in lgg:
        assert s.image.shape == (256, 256, 3) and s.image.dtype == np.uint8
        assert s.mask.shape == (256, 256) and s.mask.dtype == np.uint8
        assert set(np.unique(s.mask)) <= {0, 255}
        assert s.meta["layout"] == "suffix" and s.provenance.source == "real"
    first = lgg[0]
    assert first.id == "TCGA_CS_4943_20000902/TCGA_CS_4943_20000902_14"
    image_file, mask_file = first.meta["source_files"]
    assert image_file == str((shared_data / "lgg/train30" / (first.id + ".tif")).resolve())
    assert mask_file.endswith("_14_mask.tif")
    assert len({s.id for s in lgg}) == 30
    # the decoded arrays are the stored ones, unchanged
    np.testing.assert_array_equal(first.image, tifffile.imread(image_file))


def test_membrane_reads_30_grayscale_pairs_in_natural_order(membrane):
    assert len(membrane) == 30
    assert [s.id for s in membrane[:3]] == ["0", "1", "2"] and membrane[10].id == "10"
    for s in membrane:
        assert s.image.shape == (512, 512, 1) and s.image.dtype == np.uint8
        assert set(np.unique(s.mask)) <= {0, 255}
    assert membrane[0].meta["layout"] == "folder"
    assert membrane[0].meta["relpath"] == {"image": "image/0.png", "mask": "label/0.png"}


def test_detect_format_picks_paired2d_for_both_layouts(shared_data):
    assert detect_format(shared_data / "lgg" / "train30").name == "paired2d"
    assert detect_format(shared_data / "membrane").name == "paired2d"


# ---- writing ----------------------------------------------------------------------------------
def test_real_sample_is_copied_byte_for_byte(lgg, membrane, tmp_path):
    for sample in (lgg[0], membrane[3]):
        written = FMT.write(sample, tmp_path)
        assert written == [sample.meta["relpath"]["image"], sample.meta["relpath"]["mask"]]
        for rel, src in zip(written, sample.meta["source_files"]):
            assert (tmp_path / rel).read_bytes() == Path(src).read_bytes()


def test_new_lgg_sample_goes_next_to_its_parent_and_reads_back_equal(lgg, tmp_path):
    new = _variant(lgg[0])
    written = FMT.write(new, tmp_path)
    assert written == ["TCGA_CS_4943_20000902/TCGA_CS_4943_20000902_14_aug00042.tif",
                       "TCGA_CS_4943_20000902/TCGA_CS_4943_20000902_14_aug00042_mask.tif"]
    back = read_dataset(tmp_path)
    assert [s.id for s in back] == [new.id]
    expected = np.clip(np.rint(new.image), 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(back[0].image, expected)
    np.testing.assert_array_equal(back[0].mask, new.mask.astype(np.uint8))
    assert back[0].image.dtype == np.uint8 and back[0].mask.dtype == np.uint8
    with tifffile.TiffFile(tmp_path / written[0]) as tif:
        tags = {t.name for t in tif.pages[0].tags.values()}
    assert "DateTime" not in tags and "ImageDescription" not in tags


def test_new_membrane_sample_uses_the_folder_layout(membrane, tmp_path):
    new = _variant(membrane[0])
    assert FMT.write(new, tmp_path) == ["image/0_aug00042.png", "label/0_aug00042.png"]
    back = read_dataset(tmp_path)
    np.testing.assert_array_equal(back[0].image, np.clip(np.rint(new.image), 0, 255).astype(np.uint8))
    np.testing.assert_array_equal(back[0].mask, new.mask)


def test_same_sample_twice_gives_identical_bytes(lgg, membrane, tmp_path):
    for sample in (_variant(lgg[1]), _variant(membrane[1])):
        first = FMT.write(sample, tmp_path / "a")
        second = FMT.write(sample, tmp_path / "b")
        assert first == second
        for rel in first:
            assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()


def test_sample_without_format_meta_is_written_as_png_pair(tmp_path):
    sample = Sample(image=_img((16, 16, 3)), mask=_mask() // 255,
                    provenance=Provenance(id="gan_00007", source="gan"))
    assert FMT.write(sample, tmp_path) == ["gan_00007.png", "gan_00007_mask.png"]
    back = read_dataset(tmp_path, format="paired2d")
    np.testing.assert_array_equal(back[0].image, sample.image)
    np.testing.assert_array_equal(back[0].mask, sample.mask)


def test_jpeg_images_read_and_masks_written_as_png(tmp_dataset, tmp_path):
    root = tmp_dataset({"images/a.jpg": _img((16, 16, 3)), "masks/a.png": _mask()})
    ds = read_dataset(root)
    assert ds[0].id == "a" and ds[0].image.shape == (16, 16, 3)
    new = ds[0].derive(provenance=Provenance(id="a_aug1", source="classical", parent_id="a"))
    new.meta = {**new.meta, "mask_ext": ".jpg"}
    assert FMT.write(new, tmp_path / "out") == ["images/a_aug1.jpg", "masks/a_aug1.png"]


def test_nested_folder_layout_and_uint16_tiff_round_trip(tmp_dataset, tmp_path):
    image = _img((16, 16), np.uint16) * 300
    root = tmp_dataset({"train/image/sub/x.tif": image, "train/label/sub/x.tif": _mask() // 255})
    ds = read_dataset(root)
    assert ds[0].id == "train/sub/x" and ds[0].image.dtype == np.uint16
    new = ds[0].derive(provenance=Provenance(id="train/sub/x_aug3", source="classical"))
    assert FMT.write(new, tmp_path / "out") == ["train/image/sub/x_aug3.tif", "train/label/sub/x_aug3.tif"]
    back = read_dataset(tmp_path / "out")
    np.testing.assert_array_equal(back[0].image[..., 0], image)


# ---- bad inputs -------------------------------------------------------------------------------
def _read_error(root) -> DataError:
    with pytest.raises(DataError) as info:
        FMT.read(root)
    return info.value


def test_empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    err = _read_error(tmp_path / "empty")
    assert "empty" in str(err) and err.path == tmp_path / "empty"
    with pytest.raises(DataError, match="empty"):
        detect_format(tmp_path / "empty")


def test_image_without_mask_names_the_image(tmp_dataset):
    root = tmp_dataset({"p/a.png": _img(), "p/a_mask.png": _mask(), "p/b.png": _img()})
    err = _read_error(root)
    assert err.path == root / "p/b.png" and "no mask" in str(err) and "b_mask.png" in str(err)


def test_mask_without_image_names_the_orphan(tmp_dataset):
    root = tmp_dataset({"image/a.png": _img(), "label/a.png": _mask(), "label/c.png": _mask()})
    err = _read_error(root)
    assert err.path == root / "label/c.png" and "no image" in str(err)


def test_shape_mismatch_gives_both_shapes(tmp_dataset):
    root = tmp_dataset({"a.png": _img((16, 16, 3)), "a_mask.png": _mask((16, 12))})
    err = _read_error(root)
    assert err.path == root / "a_mask.png"
    assert "(16, 12)" in str(err) and "(16, 16, 3)" in str(err)


@pytest.mark.parametrize("name", ["a.png", "a.tif"])
def test_truncated_image_is_reported(tmp_dataset, name):
    root = tmp_dataset({name: _img((64, 64, 3)), "a_mask.png": _mask((64, 64))})
    data = (root / name).read_bytes()
    (root / name).write_bytes(data[: len(data) // 2])
    err = _read_error(root)
    assert err.path == root / name and "cannot decode image" in str(err)


def test_garbage_file_with_image_extension(tmp_dataset):
    root = tmp_dataset({"a.png": b"not an image at all" * 4, "a_mask.png": _mask()})
    err = _read_error(root)
    assert err.path == root / "a.png" and "cannot decode image" in str(err)


def test_nan_in_float_image(tmp_dataset):
    image = _img().astype(np.float32)
    image[3, 3] = math.nan
    image[4, 4] = math.inf
    root = tmp_dataset({"a.tif": image, "a_mask.tif": _mask()})
    err = _read_error(root)
    assert err.path == root / "a.tif" and "2 NaN or infinite" in str(err)


def test_float_mask_with_fractions(tmp_dataset):
    mask = _mask().astype(np.float32) / 255.0
    mask[0, 0] = 0.5
    root = tmp_dataset({"a.tif": _img(), "a_mask.tif": mask})
    err = _read_error(root)
    assert err.path == root / "a_mask.tif" and "non-integer" in str(err) and "0.5" in str(err)


def test_float_mask_with_whole_values_is_accepted(tmp_dataset):
    root = tmp_dataset({"a.tif": _img(), "a_mask.tif": _mask().astype(np.float32)})
    mask = FMT.read(root)[0].mask
    assert np.issubdtype(mask.dtype, np.integer) and set(np.unique(mask)) == {0, 255}


def test_negative_mask_labels(tmp_dataset):
    mask = _mask().astype(np.int16)
    mask[0, 0] = -1
    root = tmp_dataset({"a.tif": _img(), "a_mask.tif": mask})
    err = _read_error(root)
    assert err.path == root / "a_mask.tif" and "negative" in str(err)


def test_colour_mask_is_rejected(tmp_dataset):
    mask = np.zeros((16, 16, 3), np.uint8)
    mask[2:5, 2:5] = (255, 0, 0)
    root = tmp_dataset({"a.png": _img(), "a_mask.png": mask})
    err = _read_error(root)
    assert err.path == root / "a_mask.png" and "single-channel" in str(err)


def test_two_images_with_one_id(tmp_dataset):
    root = tmp_dataset({"a.png": _img(), "a.tif": _img(), "a_mask.png": _mask()})
    err = _read_error(root)
    assert "same sample" in str(err)


def test_hidden_and_other_files_are_ignored(tmp_dataset):
    root = tmp_dataset({"a.png": _img(), "a_mask.png": _mask(), ".tmp-x.png": b"junk",
                        ".git/b.png": b"junk", "notes.txt": b"hello", "manifest.csv": b"id\n"})
    assert [s.id for s in FMT.read(root)] == ["a"]


def test_symlink_loop_does_not_recurse_forever(tmp_dataset):
    root = tmp_dataset({"p/a.png": _img(), "p/a_mask.png": _mask()})
    (root / "p" / "again").symlink_to(root / "p", target_is_directory=True)
    assert [s.id for s in FMT.read(root)] == ["p/a"]

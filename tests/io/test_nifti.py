"""brats and nifti with ``unit="slice"``: axial slices out, one-slice volumes back, affine and
header kept. (Whole cases, the 3D default: tests/io/test_volumes.py.)"""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from augkit.errors import DataError, UsageError
from augkit.io import detect_format, read_dataset
from augkit.io.brats import MODALITIES, BratsFormat
from augkit.io.nifti import NiftiFormat
from augkit.sample import Provenance

BRATS = BratsFormat()
NIFTI = NiftiFormat()
CASE = "Brats18_2013_3_1"


@pytest.fixture(scope="module")
def brats_root(shared_data, tmp_path_factory):
    """One real case, its files linked into a folder of its own (reading all four takes longer)."""
    root = tmp_path_factory.mktemp("brats")
    (root / CASE).mkdir()
    for src in (shared_data / "brats" / CASE).iterdir():
        (root / CASE / src.name).symlink_to(src)
    return root


@pytest.fixture(scope="module")
def brats(brats_root):
    return read_dataset(brats_root, unit="slice")


def _source(kind: str, shared_data) -> nib.Nifti1Image:
    return nib.load(shared_data / "brats" / CASE / f"{CASE}_{kind}.nii.gz")


def _variant(sample, suffix="_aug00001"):
    image = sample.image.astype(np.float32) + 0.3  # what a float transform hands back
    prov = Provenance(id=sample.id + suffix, source="classical", parent_id=sample.id, seed=1)
    return sample.derive(image=image, mask=sample.mask.astype(np.int64), provenance=prov)


# ---- reading -----------------------------------------------------------------------------------
def test_brats_tumour_slices_have_four_channels_and_brats_labels(brats, shared_data):
    assert brats.format == "brats" and brats.options == {"slices": "tumour"}
    assert len(brats) > 0
    seg = np.asanyarray(_source("seg", shared_data).dataobj)
    assert len(brats) == int(seg.any(axis=(0, 1)).sum())
    for s in brats:
        assert s.image.shape == (240, 240, 4) and s.image.dtype == np.int16
        assert s.mask.any() and set(np.unique(s.mask)) <= {0, 1, 2, 4}
        assert s.meta["channel_names"] == list(MODALITIES)
    first = brats[0]
    k = first.meta["slice"]
    assert first.id == f"{CASE}/{CASE}_z{k:03d}"
    t1ce = np.asanyarray(_source("t1ce", shared_data).dataobj)
    np.testing.assert_array_equal(first.image[:, :, 2], t1ce[:, :, k])
    np.testing.assert_array_equal(first.mask, seg[:, :, k])


def test_slices_all_and_option_checks(brats_root):
    assert len(BRATS.read(brats_root, slices="all")) == 155
    with pytest.raises(UsageError, match="slices"):
        BRATS.read(brats_root, slices="middle")
    with pytest.raises(UsageError, match="depth"):
        BRATS.read(brats_root, depth=3)


def test_detect_format(shared_data, brats_root):
    assert detect_format(brats_root).name == "brats"
    assert detect_format(shared_data / "brats").name == "brats"


# ---- writing -----------------------------------------------------------------------------------
def test_written_slice_keeps_header_and_shifted_affine(brats, shared_data, tmp_path):
    sample = brats[len(brats) // 2]
    k = sample.meta["slice"]
    written = BRATS.write(sample, tmp_path)
    name = sample.id.split("/")[-1]
    assert written == [f"{CASE}/{name}/{name}_{kind}.nii.gz" for kind in (*MODALITIES, "seg")]
    for c, kind in enumerate((*MODALITIES, "seg")):
        src, out = _source(kind, shared_data), nib.load(tmp_path / written[c])
        assert out.shape == (240, 240, 1)
        np.testing.assert_allclose(out.affine, src.slicer[:, :, k:k + 1].affine)
        expected_shift = src.affine.copy()
        expected_shift[:3, 3] += src.affine[:3, 2] * k
        np.testing.assert_allclose(out.affine, expected_shift)
        assert out.get_data_dtype() == src.get_data_dtype()
        assert list(out.header["dim"][:4]) == [3, 240, 240, 1]
        assert out.header["qform_code"] == src.header["qform_code"]
        assert out.header["sform_code"] == src.header["sform_code"]
        np.testing.assert_array_equal(out.header["pixdim"][1:4], src.header["pixdim"][1:4])
        expected = sample.mask if kind == "seg" else sample.image[:, :, c]
        np.testing.assert_array_equal(np.asanyarray(out.dataobj)[:, :, 0], expected)


def test_round_trip_through_the_reader(brats, tmp_path):
    sample = brats[0]
    BRATS.write(sample, tmp_path)
    back = read_dataset(tmp_path)
    assert back.format == "brats" and len(back) == 1
    assert back[0].id == sample.id  # the id it was written under, no "_z000" added
    np.testing.assert_array_equal(back[0].image, sample.image)
    np.testing.assert_array_equal(back[0].mask, sample.mask)


def test_transformed_arrays_are_cast_back_and_bytes_are_deterministic(brats, tmp_path):
    new = _variant(brats[1])
    first = BRATS.write(new, tmp_path / "a")
    assert first[0] == f"{new.id}/{new.id.split('/')[-1]}_flair.nii.gz"
    assert BRATS.write(new, tmp_path / "b") == first
    for rel in first:
        data = (tmp_path / "a" / rel).read_bytes()
        assert data == (tmp_path / "b" / rel).read_bytes()
        assert data[4:8] == b"\0\0\0\0"  # gzip mtime field
    flair = nib.load(tmp_path / "a" / first[0])
    assert flair.get_data_dtype() == np.int16
    np.testing.assert_array_equal(np.asanyarray(flair.dataobj)[:, :, 0],
                                  np.rint(new.image[:, :, 0]).astype(np.int16))


def test_writer_rejects_wrong_channel_count(brats, tmp_path):
    bad = brats[0].derive(image=brats[0].image[:, :, :3],
                          provenance=Provenance(id="x", source="classical"))
    with pytest.raises(UsageError, match="4"):
        BRATS.write(bad, tmp_path)


# ---- bad BraTS inputs --------------------------------------------------------------------------
def _case(tmp_dataset, name="c1", shape=(16, 16, 6), skip=(), **override):
    rng = np.random.default_rng(0)
    files = {}
    for kind in MODALITIES:
        files[f"{name}/{name}_{kind}.nii.gz"] = rng.integers(0, 500, shape).astype(np.int16)
    seg = np.zeros(shape, np.int16)
    seg[4:8, 4:8, 2:4] = 2
    seg[5:6, 5:6, 3] = 4
    files[f"{name}/{name}_seg.nii.gz"] = seg
    for kind, value in override.items():
        files[f"{name}/{name}_{kind}.nii.gz"] = value
    for kind in skip:
        del files[f"{name}/{name}_{kind}.nii.gz"]
    return tmp_dataset(files)


def _error(fmt, root, unit="slice") -> DataError:
    with pytest.raises(DataError) as info:
        fmt.read(root, unit=unit)
    return info.value


def test_tiny_case_reads_tumour_slices(tmp_dataset):
    ds = BRATS.read(_case(tmp_dataset), unit="slice")
    assert [s.id for s in ds] == ["c1/c1_z002", "c1/c1_z003"]
    assert set(np.unique(ds[1].mask)) == {0, 2, 4}


def test_missing_modality_names_the_missing_file(tmp_dataset):
    root = _case(tmp_dataset, skip=("t1ce",))
    err = _error(BRATS, root)
    assert err.path == root / "c1/c1_t1ce.nii.gz" and "no t1ce volume" in str(err)


def test_truncated_gzip_fails_on_data_load(tmp_dataset):
    root = _case(tmp_dataset, shape=(64, 64, 32))
    path = root / "c1/c1_t2.nii.gz"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert nib.load(path).shape == (64, 64, 32)  # the header alone still reads
    err = _error(BRATS, root)
    assert err.path == path and "cannot read NIfTI" in str(err)


def test_nan_in_volume(tmp_dataset):
    flair = np.ones((16, 16, 6), np.float32)
    flair[1, 2, 3] = np.nan
    root = _case(tmp_dataset, flair=flair)
    err = _error(BRATS, root)
    assert err.path == root / "c1/c1_flair.nii.gz" and "NaN" in str(err)


def test_negative_and_fractional_labels(tmp_dataset):
    seg = np.zeros((16, 16, 6), np.int16)
    seg[3, 3, 3] = -1
    root = _case(tmp_dataset, seg=seg)
    err = _error(BRATS, root)
    assert err.path == root / "c1/c1_seg.nii.gz" and "negative" in str(err)
    seg = np.zeros((16, 16, 6), np.float32)
    seg[3, 3, 3] = 1.5
    root = _case(tmp_dataset, seg=seg)
    assert "non-integer" in str(_error(BRATS, root))


def test_modality_shape_mismatch(tmp_dataset):
    root = _case(tmp_dataset, t1=np.zeros((16, 16, 5), np.int16))
    err = _error(BRATS, root)
    assert err.path == root / "c1/c1_t1.nii.gz" and "(16, 16, 5)" in str(err) and "(16, 16, 6)" in str(err)


def test_symlinked_case_folder_is_followed(shared_data, tmp_path):
    (tmp_path / CASE).symlink_to(shared_data / "brats" / CASE, target_is_directory=True)
    assert BRATS.detect(tmp_path)
    assert BRATS._cases(tmp_path)[0][0][1] == CASE


@pytest.mark.parametrize("unit", ["case", "slice"])
def test_bad_cases_fail_the_same_way_in_either_unit(tmp_dataset, unit):
    root = _case(tmp_dataset, skip=("t1ce",))
    assert _error(BRATS, root, unit).path == root / "c1/c1_t1ce.nii.gz"
    seg = np.zeros((16, 16, 6), np.float32)
    seg[3, 3, 3] = 1.5
    root = _case(tmp_dataset, seg=seg)
    err = _error(BRATS, root, unit)
    assert err.path == root / "c1/c1_seg.nii.gz" and "non-integer" in str(err)
    root = _case(tmp_dataset, seg=np.zeros((16, 16, 5), np.int16))
    err = _error(BRATS, root, unit)  # the slice reader checks modalities against the seg
    assert err.path == root / ("c1/c1_seg.nii.gz" if unit == "case" else "c1/c1_flair.nii.gz")
    assert "(16, 16, 5)" in str(err) and "(16, 16, 6)" in str(err)


def test_empty_folder(tmp_path):
    assert "empty" in str(_error(BRATS, tmp_path))
    assert "empty" in str(_error(NIFTI, tmp_path))


# ---- generic NIfTI -----------------------------------------------------------------------------
def _volumes(shape=(16, 16, 5)):
    image = np.random.default_rng(1).normal(size=shape).astype(np.float32)
    label = np.zeros(shape[:3], np.uint8)
    label[2:6, 2:6, 1] = 1
    label[8:9, 8:9, 3] = 3
    return image, label


def test_generic_nifti_reads_and_round_trips(tmp_dataset, tmp_path):
    image, label = _volumes()
    root = tmp_dataset({"imagesTr/p1.nii.gz": image, "labelsTr/p1.nii.gz": label})
    assert detect_format(root).name == "nifti"
    ds = read_dataset(root, unit="slice")
    assert [s.id for s in ds] == ["p1_z001", "p1_z003"]
    assert ds[0].image.shape == (16, 16, 1) and ds[0].image.dtype == np.float32
    assert len(read_dataset(root, slices="all")) == 5
    assert NIFTI.write(ds[1], tmp_path / "out") == ["imagesTr/p1_z003.nii.gz", "labelsTr/p1_z003.nii.gz"]
    out = nib.load(tmp_path / "out/imagesTr/p1_z003.nii.gz")
    np.testing.assert_allclose(out.affine, nib.load(root / "imagesTr/p1.nii.gz").slicer[:, :, 3:4].affine)
    back = read_dataset(tmp_path / "out")
    np.testing.assert_array_equal(back[0].image, ds[1].image)
    np.testing.assert_array_equal(back[0].mask, ds[1].mask)
    assert back[0].mask.dtype == np.uint8


def test_generic_nifti_4d_channels_last(tmp_dataset, tmp_path):
    image, label = _volumes((16, 16, 5, 2))
    root = tmp_dataset({"image/p1.nii.gz": image, "label/p1.nii.gz": label})
    ds = NIFTI.read(root, unit="slice")
    assert ds[0].image.shape == (16, 16, 2)
    NIFTI.write(ds[0], tmp_path / "out")
    assert nib.load(tmp_path / "out/image/p1_z001.nii.gz").shape == (16, 16, 1, 2)
    np.testing.assert_array_equal(NIFTI.read(tmp_path / "out")[0].image, ds[0].image)


def test_generic_nifti_orphans_and_mismatch(tmp_dataset):
    image, label = _volumes()
    root = tmp_dataset({"image/a.nii.gz": image, "label/a.nii.gz": label, "label/b.nii.gz": label})
    err = _error(NIFTI, root)
    assert err.path == root / "label/b.nii.gz" and "no image volume" in str(err)
    root = tmp_dataset({"image/a.nii.gz": image, "label/a.nii.gz": label[:, :8]})
    err = _error(NIFTI, root)
    assert err.path == root / "label/a.nii.gz" and "(16, 8, 5)" in str(err)

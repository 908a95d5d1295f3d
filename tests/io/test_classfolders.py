"""classfolders and classcsv: detection beside paired2d, reading, byte-exact deterministic writing."""

from __future__ import annotations

import numpy as np
import pytest

from augkit.errors import DataError, UsageError
from augkit.io import detect_format, read_dataset
from augkit.io.classfolders import ClassCsvFormat, ClassFoldersFormat
from augkit.sample import Provenance, Sample

FOLDERS, CSV = ClassFoldersFormat(), ClassCsvFormat()


def _img(seed=0, shape=(12, 12, 3)):
    return np.random.default_rng(seed).integers(0, 255, shape).astype(np.uint8)


@pytest.fixture
def classes(tmp_dataset):
    return tmp_dataset({
        "G2/a.png": _img(1), "G2/b10.png": _img(2), "G2/b2.tif": _img(3),
        "G3/deeper/c.jpg": _img(4), "G3/d.png": _img(5, (12, 12)),
        "G3/notes.txt": b"ignored", ".hidden/x.png": _img(6),
    })


def _new(sample_id="G2/a_gan00007", label="G2", image=None, meta=None):
    image = _img(9) if image is None else image
    prov = Provenance(id=sample_id, source="gan", generator="dcgan", seed=7)
    return Sample(image=image, label=label, provenance=prov, meta=meta or {})


# ---- detection ----------------------------------------------------------------------------------
def test_class_subfolders_are_detected_as_classfolders(classes):
    assert detect_format(classes).name == "classfolders"


def test_paired_masks_and_image_label_folders_stay_paired2d(tmp_dataset):
    suffix = tmp_dataset({"p1/x.png": _img(), "p1/x_mask.png": np.zeros((12, 12), np.uint8)})
    folders = tmp_dataset({"image/0.png": _img(), "label/0.png": np.zeros((12, 12), np.uint8)})
    for root in (suffix, folders):
        assert not FOLDERS.detect(root)
        assert detect_format(root).name == "paired2d"


def test_lgg_is_still_paired2d(shared_data):
    assert detect_format(shared_data / "lgg" / "train30").name == "paired2d"


def test_loose_images_at_the_top_are_not_class_folders(tmp_dataset):
    root = tmp_dataset({"x.png": _img(), "a/y.png": _img(1)})
    assert not FOLDERS.detect(root)
    with pytest.raises(DataError, match="outside any class folder"):
        FOLDERS.read(root)


def test_labels_csv_at_the_top_is_classcsv(tmp_dataset):
    root = tmp_dataset({"imgs/a.png": _img(), "labels.csv": b"file,label\nimgs/a.png,G2\n"})
    assert detect_format(root).name == "classcsv"
    other = tmp_dataset({"imgs/a.png": _img(), "labels.csv": b"id,grade\na,G2\n"})
    assert not CSV.detect(other)


# ---- reading ------------------------------------------------------------------------------------
def test_reads_labels_from_folder_names_in_natural_order(classes):
    ds = read_dataset(classes)
    assert ds.format == "classfolders"
    assert [s.id for s in ds] == ["G2/a", "G2/b2", "G2/b10", "G3/d", "G3/deeper/c"]
    assert [s.label for s in ds] == ["G2", "G2", "G2", "G3", "G3"]
    assert all(s.mask is None and s.provenance.source == "real" for s in ds)
    assert np.array_equal(ds[0].image, _img(1))
    assert ds[3].image.shape == (12, 12, 1)


def test_mask_named_file_is_refused_when_forced(tmp_dataset):
    root = tmp_dataset({"a/x.png": _img(), "a/x_mask.png": np.zeros((12, 12), np.uint8)})
    with pytest.raises(DataError, match="--format paired2d"):
        read_dataset(root, format="classfolders")


def test_empty_class_folder_and_duplicate_ids_are_named(tmp_dataset):
    empty = tmp_dataset({"a/x.png": _img(), "b/readme.txt": b"x"})
    with pytest.raises(DataError, match=r"b: class folder holds no"):
        FOLDERS.read(empty)
    dup = tmp_dataset({"a/x.png": _img(), "a/x.tif": _img(1)})
    with pytest.raises(DataError, match="same sample id"):
        FOLDERS.read(dup)


def test_read_options_are_refused(classes):
    with pytest.raises(UsageError, match="no read options"):
        FOLDERS.read(classes, slices="all")
    assert len(FOLDERS.read(classes, slices=None)) == 5  # the CLI passes None for "not given"


# ---- writing ------------------------------------------------------------------------------------
def test_reals_are_copied_byte_for_byte_and_new_samples_go_to_their_class(classes, tmp_path):
    ds = FOLDERS.read(classes)
    out = tmp_path / "out"
    for s in ds:
        assert FOLDERS.write(s, out) == [s.meta["relpath"]["image"]]
        assert (out / s.meta["relpath"]["image"]).read_bytes() == (classes / s.meta["relpath"]["image"]).read_bytes()
    variant = ds[0].derive(image=ds[0].image.astype(np.float32) + 0.4,
                           provenance=Provenance(id="G2/a_aug00005", source="classical", parent_id="G2/a"))
    assert FOLDERS.write(variant, out) == ["G2/a_aug00005.png"]
    assert FOLDERS.write(_new("G3/x_gan00007", "G3"), out) == ["G3/x_gan00007.png"]
    back = FOLDERS.read(out)
    got = {s.id: s for s in back}
    assert got["G2/a_aug00005"].label == "G2" and got["G3/x_gan00007"].label == "G3"
    assert np.array_equal(got["G2/a_aug00005"].image, np.rint(ds[0].image + 0.4).astype(np.uint8))
    assert not list(out.rglob(".tmp-*"))


def test_writing_is_deterministic(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    FOLDERS.write(_new(), a)
    FOLDERS.write(_new(), b)
    assert (a / "G2/a_gan00007.png").read_bytes() == (b / "G2/a_gan00007.png").read_bytes()


def test_unlabelled_or_unsafe_samples_are_refused(tmp_path):
    with pytest.raises(UsageError, match="has no label"):
        FOLDERS.write(_new(label=None), tmp_path)
    src = tmp_path / "x.png"
    src.write_bytes(b"png")
    sneaky = Sample(image=_img(), label="G2", provenance=Provenance(id="G2/x"),
                    meta={"format": "classfolders", "relpath": {"image": "../evil.png"},
                          "source_files": [str(src)]})
    with pytest.raises(UsageError, match="refusing to write outside"):
        FOLDERS.write(sneaky, tmp_path / "out")


# ---- classcsv -----------------------------------------------------------------------------------
def test_classcsv_reads_labels_and_keeps_extra_columns(tmp_dataset):
    root = tmp_dataset({
        "imgs/a.png": _img(1), "imgs/b.png": _img(2), "imgs/unlisted.png": _img(3),
        "labels.csv": b"File,Label,patient\nimgs/b.png,G3,P2\nimgs/a.png,G2,P1\n",
    })
    ds = read_dataset(root)
    assert ds.format == "classcsv"
    assert [(s.id, s.label, s.meta["csv_row"]) for s in ds] == [
        ("imgs/a", "G2", {"patient": "P1"}), ("imgs/b", "G3", {"patient": "P2"})]


def test_classcsv_csv_option_and_writer_round_trip(tmp_dataset, tmp_path):
    root = tmp_dataset({"x/a.png": _img(1), "x/b.png": _img(2), "tables/my.csv": b"x"})
    (root / "tables/my.csv").write_text("file,label\n../x/a.png,G2\n")
    with pytest.raises(DataError, match="not inside"):
        CSV.read(root, csv="tables/my.csv")
    (root / "my.csv").write_text("file,label\nx/b.png,G3\nx/a.png,G2\n")
    ds = CSV.read(root, csv="my.csv")
    out = tmp_path / "out"
    written = [CSV.write(s, out) for s in ds]
    assert written == [["x/a.png", "labels.csv"], ["x/b.png", "labels.csv"]]
    gan = ds[0].derive(image=_img(5), provenance=Provenance(id="x/a_gan00002", source="gan"))
    assert CSV.write(gan, out) == ["x/a_gan00002.png", "labels.csv"]
    CSV.write(_new("n_gan00003", "G4"), out)
    text = (out / "labels.csv").read_text()
    assert text == "file,label\nG4/n_gan00003.png,G4\nx/a.png,G2\nx/a_gan00002.png,G2\nx/b.png,G3\n"
    assert (out / "x/a.png").read_bytes() == (root / "x/a.png").read_bytes()
    back = read_dataset(out)
    assert back.format == "classcsv" and [s.label for s in back] == ["G4", "G2", "G2", "G3"]


@pytest.mark.parametrize("table, words", [
    (b"name,grade\nx/a.png,G2\n", "expected 'file' and 'label'"),
    (b"file,label\n", "no rows"),
    (b"file,label\nx/a.png,\n", "line 2 has an empty"),
    (b"file,label\nx/missing.png,G2\n", "missing"),
    (b"file,label\nx/a.png,G2\nx/a.png,G3\n", "line 3 repeats"),
    (b"file,label\nx/a.png,G2,extra\n", "more cells"),
    (b"file,label\nnotes.txt,G2\n", "not a PNG"),
])
def test_classcsv_bad_tables_get_one_clear_message(tmp_dataset, table, words):
    root = tmp_dataset({"x/a.png": _img(), "notes.txt": b"x", "labels.csv": table})
    with pytest.raises(DataError, match=words) as info:
        CSV.read(root)
    assert "\n" not in str(info.value) and "Fix:" in str(info.value)

"""NIfTI cases as the unit (the 3D default): read lazily, expanded case by case, written in the
source layout with the source affine and header; bad cases refused in one line, nothing written."""

from __future__ import annotations

import hashlib

import nibabel as nib
import numpy as np
import pytest
from click.testing import CliRunner

from augkit.cli import cli
from augkit.expand.manifest import read_manifest
from augkit.expand.run import expand
from augkit.expand.staging import staging_dir
from augkit.io import read_dataset
from augkit.io.brats import MODALITIES
from augkit.io.volumes import LazySamples

SHAPE = (32, 32, 16)
# BraTS-like: LPS voxel axes, 1 mm, an origin away from 0
AFFINE = np.array([[-1.0, 0, 0, 31], [0, -1.0, 0, 239], [0, 0, 1.0, 0], [0, 0, 0, 1]])


def _save(path, data, affine=AFFINE):
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(data, affine), path)


def _brats(root, cases=("c1", "c2"), shape=SHAPE, **override):
    """Tiny BraTS case folders; ``override={"c2_seg": array or None}`` changes or drops a file."""
    rng = np.random.default_rng(0)
    for case in cases:
        x, y, z = np.indices(shape)
        head = ((x - shape[0] / 2) / 12) ** 2 + ((y - shape[1] / 2) / 10) ** 2 + \
            ((z - shape[2] / 2) / 6) ** 2 < 1
        files = {k: np.where(head, rng.integers(50, 800, shape), 0).astype(np.int16) for k in MODALITIES}
        seg = np.zeros(shape, np.int16)
        seg[12:18, 10:16, 6:10] = 2
        seg[14:16, 12:14, 7:9] = 1
        seg[13, 11, 8] = 4
        files["seg"] = seg
        for kind, data in files.items():
            data = override.get(f"{case}_{kind}", data)
            if data is not None:
                _save(root / case / f"{case}_{kind}.nii.gz", data)
    return root


def _digest(folder):
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_cases_are_read_lazily_with_their_counts(tmp_path):
    ds = read_dataset(_brats(tmp_path / "in"))
    assert ds.format == "brats" and ds.options == {"unit": "case"} and len(ds) == 2
    assert isinstance(ds.samples, LazySamples)
    meta = ds.samples.metas[0]
    assert meta["group"] == "c1" and meta["shape"] == list(SHAPE) and meta["label_values"] == [0, 1, 2, 4]
    assert meta["num_tumour_slices"] == 4
    case = ds[1]
    assert case.id == "c2" and case.is_volume and case.image.shape == (*SHAPE, 4) and case.mask.shape == SHAPE
    np.testing.assert_allclose(case.meta["source_volumes"]["flair"]["affine"], AFFINE)
    assert ds[1] is not case  # loaded again, not kept


def test_unit_slice_and_slices_option(tmp_path):
    root = _brats(tmp_path / "in")
    assert len(read_dataset(root, unit="slice")) == 8  # 4 labelled slices per case
    one = read_dataset(root, slices="one")  # implies --unit slice
    assert [s.id for s in one] == ["c1/c1_z006", "c2/c2_z006"]  # equal areas: the lowest slice
    with pytest.raises(Exception, match="--slices .* goes with --unit slice"):
        read_dataset(root, unit="case", slices="all")


def test_expand_writes_whole_cases_in_the_brats_layout(tmp_path):
    src, out = _brats(tmp_path / "in"), tmp_path / "out"
    result = CliRunner().invoke(cli, ["expand", "--in", str(src), "--to", "5", "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    rows = read_manifest(out / "manifest.csv")
    assert [r["source"] for r in rows] == ["real"] * 2 + ["classical"] * 3
    for real in ("c1", "c2"):  # real cases: byte copies
        for kind in (*MODALITIES, "seg"):
            name = f"{real}/{real}_{kind}.nii.gz"
            assert (out / name).read_bytes() == (src / name).read_bytes()
    for row in rows[2:]:
        name = row["id"]
        files = row["files"].split(";")
        assert files == [f"{name}/{name}_{k}.nii.gz" for k in (*MODALITIES, "seg")]
        source = nib.load(src / row["parent_id"] / f"{row['parent_id']}_flair.nii.gz")
        for f in files:
            img = nib.load(out / f)
            assert img.shape == SHAPE and img.get_data_dtype() == np.int16
            np.testing.assert_array_equal(img.affine, source.affine)
            assert img.header.get_zooms() == source.header.get_zooms()
        seg = np.asarray(nib.load(out / files[-1]).dataobj)
        assert set(np.unique(seg)) <= {0, 1, 2, 4} and (seg > 0).any()
        assert '"op":"affine"' in row["params"]
    back = read_dataset(out)
    assert back.options == {"unit": "case"}
    assert sorted(s.id for s in back) == sorted(r["id"] for r in rows)


def test_same_seed_same_bytes_and_a_killed_run_resumes(tmp_path, monkeypatch):
    import augkit.expand.maker as maker

    src = _brats(tmp_path / "in")
    reference = _digest(expand(src, 6, tmp_path / "ref", seed=3, progress=False).out_dir)
    assert _digest(expand(src, 6, tmp_path / "again", seed=3, progress=False).out_dir) == reference
    real_make, calls = maker.SampleMaker.make, []

    def make_then_die(self, index, source):
        if len(calls) == 3:
            raise KeyboardInterrupt
        calls.append(index)
        return real_make(self, index, source)

    monkeypatch.setattr(maker.SampleMaker, "make", make_then_die)
    with pytest.raises(KeyboardInterrupt):
        expand(src, 6, tmp_path / "run", seed=3, progress=False)
    monkeypatch.setattr(maker.SampleMaker, "make", real_make)
    assert staging_dir(tmp_path / "run").exists() and not (tmp_path / "run").exists()
    result = expand(src, 6, tmp_path / "run", seed=3, progress=False)
    assert result.resumed == 3 and _digest(tmp_path / "run") == reference


def test_unit_slice_keeps_the_slice_flow(tmp_path):
    src = _brats(tmp_path / "in")
    runner = CliRunner()
    a, b = tmp_path / "a", tmp_path / "b"
    assert runner.invoke(cli, ["expand", "--in", str(src), "--to", "12", "--out", str(a),
                               "--unit", "slice", "--quiet"]).exit_code == 0
    assert runner.invoke(cli, ["expand", "--in", str(src), "--to", "12", "--out", str(b),
                               "--slices", "tumour", "--quiet"]).exit_code == 0
    assert _digest(a) == _digest(b)
    rows = read_manifest(a / "manifest.csv")
    assert rows[0]["id"] == "c1/c1_z006" and nib.load(a / rows[0]["files"].split(";")[0]).shape == (32, 32, 1)
    assert "--unit [case|slice]" in runner.invoke(cli, ["expand", "--help"]).output


def _cli_error(args):
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.strip().splitlines() if line]
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    return lines[0]


@pytest.mark.parametrize("bad, file, says", [
    ({"c2_t1ce": None}, "c2/c2_t1ce.nii.gz", "has no t1ce volume"),
    ({"c2_seg": np.zeros((32, 32, 12), np.int16)}, "c2/c2_seg.nii.gz", "does not match c2_flair.nii.gz"),
    ({"c2_t2": np.zeros((32, 32), np.int16)}, "c2/c2_t2.nii.gz", "is 2D (shape (32, 32)) in a set of 3D cases"),
    ({"c2_seg": np.full(SHAPE, 0.5, np.float32)}, "c2/c2_seg.nii.gz", "non-integer values"),
    ({"c2_flair": np.where(np.arange(np.prod(SHAPE)).reshape(SHAPE) == 100, np.nan, 7.0).astype(np.float32)},
     "c2/c2_flair.nii.gz", "has 1 NaN or infinite values"),
    ({"c2_t2": np.where(np.arange(np.prod(SHAPE)).reshape(SHAPE) == 5, np.inf, 7.0).astype(np.float32)},
     "c2/c2_t2.nii.gz", "has 1 NaN or infinite values"),
])
def test_bad_cases_get_one_line_and_nothing_is_written(tmp_path, bad, file, says):
    src, out = _brats(tmp_path / "in", **bad), tmp_path / "out"
    line = _cli_error(["expand", "--in", str(src), "--to", "4", "--out", str(out), "--quiet"])
    assert str(src / file) in line and says in line and "Fix:" in line
    assert not out.exists() and not staging_dir(out).exists()


def test_generators_and_small_targets_on_volumes_say_what_to_do(tmp_path):
    src, out = _brats(tmp_path / "in"), tmp_path / "out"
    line = _cli_error(["expand", "--in", str(src), "--to", "4", "--out", str(out), "--generator", "pix2pix"])
    assert "3D cases" in line and "--unit slice" in line
    line = _cli_error(["expand", "--in", str(src), "--to", "1", "--out", str(out)])
    assert "2 real cases" in line and "--unit slice" in line
    assert not out.exists()


def test_the_2d_tools_say_a_case_output_needs_the_slice_flow(tmp_path):
    src, out = _brats(tmp_path / "in"), tmp_path / "out"
    expand(src, 3, out, seed=0, progress=False)
    line = _cli_error(["evaluate", "--real", str(src), "--synthetic", str(out), "--out", str(tmp_path / "rep")])
    assert "holds whole 3D cases" in line and "--unit slice" in line


def test_info_header_says_how_a_slices_one_output_was_read(tmp_path):
    src, out = _brats(tmp_path / "in"), tmp_path / "out"
    assert CliRunner().invoke(cli, ["expand", "--in", str(src), "--to", "4", "--out", str(out),
                                    "--unit", "slice", "--slices", "one", "--quiet"]).exit_code == 0
    header = CliRunner().invoke(cli, ["info", str(out)]).output.splitlines()[0]
    assert header == f"{out}: brats (unit=slice)"  # one-slice cases read whole: no slice rule applied
    asked = CliRunner().invoke(cli, ["info", str(src), "--read-option", "slices=one"]).output.splitlines()[0]
    assert asked == f"{src}: brats (slices=one)"


def test_info_reports_cases_and_slices(tmp_path):
    src = _brats(tmp_path / "in")
    result = CliRunner().invoke(cli, ["info", str(src)])
    assert result.exit_code == 0 and "case: 2 cases (32 axial slices, 8 with a label" in result.output
    result = CliRunner().invoke(cli, ["info", str(src), "--json"])
    assert '"num_cases": 2' in result.output and '"num_slices": 32' in result.output


def test_generic_nifti_volumes_round_trip(tmp_path):
    rng = np.random.default_rng(2)
    image = rng.normal(size=(*SHAPE, 2)).astype(np.float32)
    label = np.zeros(SHAPE, np.uint8)
    label[10:20, 10:20, 4:8] = 3
    _save(tmp_path / "in/imagesTr/p1.nii.gz", image)
    _save(tmp_path / "in/labelsTr/p1.nii.gz", label)
    ds = read_dataset(tmp_path / "in")
    assert ds.format == "nifti" and ds.options == {"unit": "case"} and ds[0].image.shape == (*SHAPE, 2)
    expand(tmp_path / "in", 3, tmp_path / "out", seed=0, progress=False)
    back = read_dataset(tmp_path / "out")
    assert sorted(s.id for s in back) == ["p1", "p1_aug00001", "p1_aug00002"]
    new = nib.load(tmp_path / "out/imagesTr/p1_aug00001.nii.gz")
    assert new.shape == (*SHAPE, 2) and new.get_data_dtype() == np.float32
    np.testing.assert_array_equal(new.affine, AFFINE)
    assert set(np.unique(np.asarray(nib.load(tmp_path / "out/labelsTr/p1_aug00001.nii.gz").dataobj))) <= {0, 3}


def test_one_real_brats_case(shared_data, tmp_path):
    """A real 240×240×155 case through one 3D variant: grid, affine and labels kept."""
    case = sorted((shared_data / "brats").iterdir())[0]
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / case.name).symlink_to(case, target_is_directory=True)
    expand(tmp_path / "in", 2, tmp_path / "out", seed=0, progress=False)
    row = read_manifest(tmp_path / "out" / "manifest.csv")[1]
    files = row["files"].split(";")
    source = nib.load(case / f"{case.name}_flair.nii.gz")
    flair = nib.load(tmp_path / "out" / files[0])
    assert flair.shape == (240, 240, 155)
    np.testing.assert_array_equal(flair.affine, source.affine)
    seg = np.asarray(nib.load(tmp_path / "out" / files[-1]).dataobj)
    assert set(np.unique(seg)) == {0, 1, 2, 4}
    # the tumour is still inside the brain: FLAIR is non-zero under every seg label
    assert (np.asarray(flair.dataobj)[seg > 0] > 0).mean() > 0.99

"""The command line: the main commands work, and every kind of bad input gets one line naming
the file, exit status 2, and no output folder."""

import gzip
import json

import numpy as np
import pytest
from click.testing import CliRunner

from augkit import __version__
from augkit.cli import cli
from augkit.expand.staging import staging_dir

IMG = np.full((16, 16, 3), 90, np.uint8)
MASK = np.zeros((16, 16), np.uint8)
MASK[4:9, 4:9] = 255


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def good_pair(name="a/x"):
    return {f"{name}.png": IMG, f"{name}_mask.png": MASK}


def assert_refused(result, out, *needles):
    assert result.exit_code == 2, result.output
    message = result.stderr.strip()
    assert message.startswith("Error: ") and "\n" not in message, message
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in message, message
    assert not out.exists() and not staging_dir(out).exists()


def test_version():
    result = run("--version")
    assert result.exit_code == 0 and __version__ in result.output


def test_demo_info_expand_round(tmp_path):
    demo = tmp_path / "demo"
    assert run("demo", demo, "--cases", 5, "--size", 48).exit_code == 0
    info = run("info", demo, "--json")
    assert info.exit_code == 0, info.output
    summary = json.loads(info.output)
    assert summary["format"] == "paired2d" and summary["num_samples"] == 5
    out = tmp_path / "out"
    result = run("expand", "--in", demo, "--to", 12, "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    # the default (--generator auto) on the demo's lesion masks: half the added slices transplanted
    assert "wrote 12 samples (classical 4, gan 3, real 5)" in result.output
    assert len(list(out.rglob("*_mask.tif"))) == 12


def test_default_output_folder_sits_beside_the_input(tmp_path, tmp_dataset):
    src = tmp_dataset(good_pair())
    result = run("expand", "--in", src, "--to", 3, "--quiet")
    assert result.exit_code == 0, result.output
    assert (src.parent / f"{src.name}_x3" / "manifest.csv").exists()


def test_plugins_lists_builtins():
    result = run("plugins", "--json")
    assert result.exit_code == 0, result.output
    listed = json.loads(result.output)
    registered = {item for p in listed["plugins"] for item in p["registered"]}
    assert {"formats:paired2d", "formats:brats", "presets:seed"} <= registered


def truncated_png():
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(IMG).save(buf, format="PNG")
    return buf.getvalue()[:60]


def nan_volume():
    return np.full((8, 8, 3), np.nan, np.float32)


@pytest.mark.parametrize("files, needles", [
    ({**good_pair("a/y"), "a/x.png": IMG}, ["x.png", "mask"]),
    ({**good_pair("a/y"), "a/x_mask.png": MASK}, ["x_mask.png"]),
    ({"a/x.png": IMG, "a/x_mask.png": np.zeros((8, 8), np.uint8)}, ["x", "(16, 16", "(8, 8"]),
    ({"a/x.png": truncated_png(), "a/x_mask.png": MASK}, ["x.png"]),
    ({"a/x.tif": np.full((16, 16), np.nan, np.float32), "a/x_mask.tif": MASK}, ["x.tif", "NaN"]),
    ({"a/x.tif": IMG, "a/x_mask.tif": np.full((16, 16), 0.5, np.float32)}, ["x_mask.tif", "integer"]),
    ({"image/v.nii.gz": np.zeros((8, 8, 3), np.int16), "label/v.nii.gz": b"\x1f\x8b\x08not-a-volume"},
     ["v.nii.gz"]),
    ({"image/v.nii.gz": nan_volume(), "label/v.nii.gz": np.ones((8, 8, 3), np.uint8)}, ["v.nii.gz", "NaN"]),
], ids=["image-without-mask", "mask-without-image", "shape-mismatch", "truncated-image",
        "nan-pixels", "non-integer-mask", "corrupt-nifti", "nan-voxels"])
def test_bad_datasets_are_refused_with_one_line(tmp_path, tmp_dataset, files, needles):
    src = tmp_dataset(files)
    out = tmp_path / "out"
    assert_refused(run("expand", "--in", src, "--to", 5, "--out", out), out, *needles)


def test_missing_and_empty_folders(tmp_path):
    out = tmp_path / "out"
    assert_refused(run("expand", "--in", tmp_path / "nope", "--to", 5, "--out", out), out,
                   "does not exist")
    (tmp_path / "empty").mkdir()
    assert_refused(run("expand", "--in", tmp_path / "empty", "--to", 5, "--out", out), out, "empty")


@pytest.mark.parametrize("command, flag", [
    (["evaluate", "--real", "{missing}", "--synthetic", "{good}", "--out", "{out}"], "--real"),
    (["evaluate", "--real", "{good}", "--synthetic", "{missing}", "--out", "{out}"], "--synthetic"),
    (["evaluate", "--real", "{good}", "--synthetic", "{good}", "--test", "{missing}", "--out", "{out}"], "--test"),
    (["train", "--in", "{good}", "--generator", "pix2pix", "--val", "{missing}", "--out", "{out}"], "--val"),
    (["info", "{missing}"], "the DIRECTORY argument"),
])
def test_a_missing_folder_is_named_by_the_flag_given(tmp_path, tmp_dataset, command, flag):
    good, missing, out = tmp_dataset({**good_pair("a/x"), **good_pair("a/y")}), tmp_path / "nope", tmp_path / "out"
    result = run(*[a.format(good=good, missing=missing, out=out) for a in command])
    assert_refused(result, out, f"{missing}: folder does not exist", f"check the path given to {flag}")
    assert "--in" not in result.stderr


def test_target_smaller_than_input(tmp_path, tmp_dataset):
    src = tmp_dataset({**good_pair("a/x"), **good_pair("a/y")})
    out = tmp_path / "out"
    assert_refused(run("expand", "--in", src, "--to", 1, "--out", out), out, "--to 1", "at least --to 2")


def test_output_exists_and_is_not_empty(tmp_path, tmp_dataset):
    src = tmp_dataset(good_pair())
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    result = run("expand", "--in", src, "--to", 3, "--out", out)
    assert result.exit_code == 2 and "--overwrite" in result.stderr
    assert (out / "keep.txt").read_text() == "mine"
    # --overwrite replaces only what augkit wrote (issue 14): a folder of the user's is kept.
    result = run("expand", "--in", src, "--to", 3, "--out", out, "--overwrite", "--quiet")
    assert result.exit_code == 2 and "keep.txt" in result.stderr
    assert (out / "keep.txt").read_text() == "mine"
    (out / "keep.txt").unlink()
    assert run("expand", "--in", src, "--to", 3, "--out", out, "--quiet").exit_code == 0
    result = run("expand", "--in", src, "--to", 4, "--out", out, "--overwrite", "--quiet")
    assert result.exit_code == 0, result.output
    assert (out / "manifest.csv").exists() and "wrote 4 samples" in result.output


def test_output_inside_input(tmp_dataset):
    src = tmp_dataset(good_pair())
    out = src / "more"
    assert_refused(run("expand", "--in", src, "--to", 3, "--out", out), out, "inside the input")


def test_bad_preset_and_shard(tmp_path, tmp_dataset):
    src = tmp_dataset(good_pair())
    out = tmp_path / "out"
    assert_refused(run("expand", "--in", src, "--to", 3, "--out", out, "--preset", "nope"), out, "nope")
    assert_refused(run("expand", "--in", src, "--to", 3, "--out", out, "--shard", "3/3"), out, "0 <= i < k")


def test_corrupt_gz_written_raw(tmp_path, tmp_dataset):
    # A gzip that ends midway: the header is fine, the data is not.
    import nibabel as nib

    blob = gzip.compress(nib.Nifti1Image(np.zeros((8, 8, 4), np.int16), np.eye(4)).to_bytes(), mtime=0)
    src = tmp_dataset({"image/v.nii.gz": blob[: len(blob) // 2], "label/v.nii.gz": np.zeros((8, 8, 4), np.uint8)})
    out = tmp_path / "out"
    assert_refused(run("expand", "--in", src, "--to", 5, "--out", out), out, "v.nii.gz")


def test_evaluate_an_expand_output_leaves_its_real_samples_out(tmp_path):
    demo = tmp_path / "demo"
    assert run("demo", demo, "--cases", 6, "--size", 48).exit_code == 0
    out = tmp_path / "x"
    expanded = run("expand", "--in", demo, "--to", 14, "--out", out, "--quiet")
    assert expanded.exit_code == 0, expanded.output
    result = run("evaluate", "--real", demo, "--synthetic", out, "--out", tmp_path / "report")
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert metrics["num_real"] == 6 and metrics["num_synthetic"] == 8
    assert (tmp_path / "report" / "report.html").exists()
    assert '"near_copies": 0' in result.output


def test_generate_refuses_a_folder_without_a_model(tmp_path):
    result = run("generate", "--model", tmp_path, "--n", 5, "--out", tmp_path / "g")
    assert result.exit_code == 2 and "config.json missing" in result.stderr

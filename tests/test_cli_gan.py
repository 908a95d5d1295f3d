"""The GAN commands end to end on tiny data: train (killed and resumed), generate, expand."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from click.testing import CliRunner

from augkit.cli import cli
from augkit.io.demo import write_demo
from augkit.expand.manifest import read_manifest
from augkit.io import read_dataset


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return write_demo(tmp_path_factory.mktemp("gan") / "demo", num_cases=6, size=32)


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_train_killed_then_resumed_from_its_last_checkpoint(demo, tmp_path, epochs_run):
    model = tmp_path / "model"
    cmd = [sys.executable, "-m", "augkit", "train", "--in", str(demo), "--generator", "pix2pix",
           "--out", str(model), "--profile", "tiny", "--epochs", "400", "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if len(list((model / "checkpoints").glob("epoch-*"))) and \
                max(int(p.name.split("-")[1]) for p in (model / "checkpoints").glob("epoch-*")) >= 3:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "training ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    reached = max(int(p.name.split("-")[1]) for p in (model / "checkpoints").glob("epoch-*"))
    assert not (model / "config.json").exists()  # no half model is presented as finished
    last = json.loads((model / "checkpoints" / f"epoch-{reached:04d}" / "state.json").read_text())
    killed_seconds = last["state"]["history"]["seconds"]
    assert len(killed_seconds) == reached
    # Same command with fewer total epochs: resumes, trains the rest, saves.
    result = run("train", "--in", demo, "--generator", "pix2pix", "--out", model, "--profile", "tiny",
                 "--epochs", reached + 2, "--quiet")
    assert result.exit_code == 0, result.output
    saved = json.loads((model / "config.json").read_text())
    assert saved["epochs_trained"] == reached + 2
    assert len(saved["history"]["g_l1"]) == reached + 2  # one history, not two restarts
    assert len(epochs_run) == 2  # trained the 2 missing epochs, not all reached + 2 again
    assert saved["history"]["seconds"][:reached] == killed_seconds  # the killed run's epochs, kept
    assert not (model / "checkpoints").exists()
    again = run("train", "--in", demo, "--generator", "pix2pix", "--out", model, "--profile", "tiny")
    assert again.exit_code == 2 and "finished model" in again.stderr


@pytest.fixture(scope="module")
def tiny_model(demo, tmp_path_factory):
    model = tmp_path_factory.mktemp("m") / "model"
    result = run("train", "--in", demo, "--generator", "pix2pix", "--out", model, "--profile", "tiny",
                 "--epochs", 2, "--quiet")
    assert result.exit_code == 0, result.output
    return model


def test_generate_shards_from_a_trained_model(demo, tiny_model, tmp_path):
    out = tmp_path / "gen"
    result = run("generate", "--model", tiny_model, "--n", 10, "--out", out, "--conditions", demo,
                 "--shard-size", 4, "--quiet")
    assert result.exit_code == 0, result.output
    back = read_dataset(out)
    assert len(back) == 10 and {s.image.shape for s in back} == {(32, 32, 3)}
    assert all(set(np.unique(s.mask)) <= {0, 255} for s in back)
    missing = run("generate", "--model", tiny_model, "--n", 3, "--out", tmp_path / "g2")
    assert missing.exit_code == 2 and "--conditions" in missing.stderr


def test_expand_with_a_trained_model_and_the_wrong_one(demo, tiny_model, tmp_path):
    out = tmp_path / "x"
    result = run("expand", "--in", demo, "--to", 14, "--out", out, "--generator", "pix2pix",
                 "--model", tiny_model, "--quiet")
    assert result.exit_code == 0, result.output
    rows = read_manifest(out / "manifest.csv")
    gan = [r for r in rows if r["source"] == "gan"]
    assert len(gan) == 4 and all(r["checkpoint_hash"] == json.loads(
        (tiny_model / "config.json").read_text())["checkpoint_hash"] for r in gan)
    wrong = run("expand", "--in", demo, "--to", 14, "--out", tmp_path / "y", "--generator", "pix2pix",
                "--model", demo)
    assert wrong.exit_code == 2 and "config.json missing" in wrong.stderr
    assert not (tmp_path / "y").exists()


def one_line_refusal(result, *needles):
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output
    assert all(n in lines[0] for n in needles), lines[0]


def test_generate_refuses_conditions_of_another_size_or_labels(tiny_model, tmp_path, tmp_dataset):
    bigger = write_demo(tmp_path / "bigger", num_cases=2, size=48)  # the model saw 32×32 masks
    result = run("generate", "--model", tiny_model, "--n", 4, "--out", tmp_path / "g1",
                 "--conditions", bigger, "--quiet")
    one_line_refusal(result, "_mask", "48×48", "32×32", "--conditions")
    assert not (tmp_path / "g1").exists()
    mask = np.zeros((32, 32), np.uint8)
    mask[4:20, 4:20], mask[10:14, 10:14] = 255, 128  # a label value the model never saw
    odd = tmp_dataset({"x.png": np.full((32, 32, 3), 90, np.uint8), "x_mask.png": mask})
    result = run("generate", "--model", tiny_model, "--n", 4, "--out", tmp_path / "g2",
                 "--conditions", odd, "--quiet")
    one_line_refusal(result, "x_mask.png", "[128]")
    assert not (tmp_path / "g2").exists()


def test_generate_refuses_conditions_for_a_model_that_takes_none(demo, tmp_path):
    model = tmp_path / "dcgan"
    trained = run("train", "--in", demo, "--generator", "dcgan", "--out", model, "--profile", "tiny",
                  "--epochs", 1, "--quiet")
    assert trained.exit_code == 0, trained.output
    result = run("generate", "--model", model, "--n", 4, "--out", tmp_path / "g",
                 "--conditions", demo, "--quiet")
    one_line_refusal(result, "dcgan", "takes no --conditions", "Fix: leave --conditions out")
    assert not (tmp_path / "g").exists()
    plain = run("generate", "--model", model, "--n", 4, "--out", tmp_path / "g", "--quiet")
    assert plain.exit_code == 0, plain.output  # without --conditions it generates


def test_generate_reads_conditions_with_read_options(tiny_model, tmp_path, tmp_dataset):
    """--read-option reaches the --conditions reader: a mask with an anti-aliased edge value is
    refused by the reader's label check; with labels=as-is the reader lets it through and the
    model's own check refuses the value it never saw. Both in one line."""
    mask = np.zeros((32, 32), np.uint8)
    mask[4:20, 4:20] = 255
    mask[4:20, 20] = 128  # one anti-aliased edge column
    odd = tmp_dataset({"a/x.png": np.full((32, 32, 3), 90, np.uint8), "a/x_mask.png": mask})
    checked = run("generate", "--model", tiny_model, "--n", 4, "--out", tmp_path / "g1", "--conditions", odd,
                  "--quiet")
    as_is = run("generate", "--model", tiny_model, "--n", 4, "--out", tmp_path / "g2", "--conditions", odd,
                "--quiet", "--read-option", "labels=as-is")
    one_line_refusal(checked, "x_mask.png", "likely anti-aliasing", "--read-option labels=as-is")
    one_line_refusal(as_is, "x_mask.png", "condition mask refused", "[128]")
    assert checked.stderr != as_is.stderr
    assert "condition mask refused" not in checked.stderr
    refused = run("generate", "--model", tiny_model, "--n", 4, "--out", tmp_path / "g3", "--quiet",
                  "--read-option", "labels=as-is")
    one_line_refusal(refused, "--read-option applies to --conditions DIR")

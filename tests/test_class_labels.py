"""Class labels stay exact from a class-conditional generator to the training loop: ``augkit
expand --generator dcgan`` on class folders gives the asked count per class with every GAN
sample in the folder of the class it was made for; the sampler serves (image, label) pairs from
a live conditional generator with the asked synthetic share, through tf.data and a DataLoader."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
from click.testing import CliRunner

import tensorflow  # noqa: F401  (required: a broken install fails, it is not skipped)

from augkit.cli import cli  # noqa: E402
from augkit.expand.manifest import read_manifest  # noqa: E402
from augkit.io import read_dataset  # noqa: E402
from augkit.sampling.sampler import MixedSampler  # noqa: E402
from augkit.sampling.sources import GeneratorSource  # noqa: E402
from augkit.sampling.tfdata import as_tf_dataset  # noqa: E402

SIDE = 16
COUNTS = {"normal": 3, "pneumonia": 5}


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def class_images(counts=COUNTS, seed=0):
    rng = np.random.default_rng(seed)
    files = {}
    for k, (label, n) in enumerate(counts.items()):
        for i in range(n):
            image = rng.integers(0, 60, (SIDE, SIDE)).astype(np.uint8)
            image[k * SIDE // 2:(k + 1) * SIDE // 2] += 150
            files[f"{label}/{label}_{i}.png"] = image
    return files


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Class folders (3 normal, 5 pneumonia) and a tiny dcgan trained on them by the CLI."""
    from PIL import Image

    root = tmp_path_factory.mktemp("classes")
    data = root / "data"
    for rel, image in class_images().items():
        (data / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(data / rel)
    model = root / "model"
    result = run("train", "--in", data, "--generator", "dcgan", "--out", model, "--profile", "tiny",
                 "--epochs", 1, "--quiet")
    assert result.exit_code == 0, result.output
    return data, model


def test_expand_with_a_conditional_model_gives_the_asked_count_per_class(trained, tmp_path):
    data, model = trained
    out = tmp_path / "out"
    result = run("expand", "--in", data, "--to", 20, "--out", out, "--generator", "dcgan",
                 "--model", model, "--gan-fraction", 0.6, "--quiet")
    assert result.exit_code == 0, result.output
    back = read_dataset(out)
    assert Counter(s.label for s in back.samples) == {"normal": 10, "pneumonia": 10}
    rows = read_manifest(out / "manifest.csv")
    gan = [r for r in rows if r["source"] == "gan"]
    assert {r["files"].split("/")[0] for r in gan} == {"normal", "pneumonia"}
    for r in gan:  # written into the folder of the class it was asked for
        assert r["files"].split("/")[0] == json.loads(r["params"])["label"], r
    added = Counter(r["files"].split("/")[0] for r in rows if r["source"] != "real")
    assert added == {"normal": 10 - COUNTS["normal"], "pneumonia": 10 - COUNTS["pneumonia"]}


def test_expand_refuses_a_class_the_model_was_not_trained_on(trained, tmp_path, tmp_dataset):
    _, model = trained
    other = tmp_dataset({f"covid/c{i}.png": np.full((SIDE, SIDE), 40 * i, np.uint8) for i in range(3)}
                        | {f"normal/n{i}.png": np.full((SIDE, SIDE), 9 * i, np.uint8) for i in range(3)})
    result = run("expand", "--in", other, "--to", 12, "--out", tmp_path / "o", "--generator", "dcgan",
                 "--model", model)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "'covid' is not one the model was trained on" in lines[0], lines
    assert not (tmp_path / "o").exists()


def live_sampler(trained, fraction=0.25, epoch_size=16):
    from augkit_dcgan.generator import DCGAN

    data, model = trained
    real = read_dataset(data).samples
    source = GeneratorSource(DCGAN.load(model), real, conditions="classes", pool_size=8,
                             batch_size=4, seed=5)
    return MixedSampler(real, source, synthetic_fraction=fraction, balance_classes=True,
                        epoch_size=epoch_size, seed=2)


def test_a_live_conditional_generator_serves_exact_labels_and_share(trained):
    sampler = live_sampler(trained)
    assert sampler.synthetic.labels() == ["normal", "pneumonia"] * 4  # known before painting
    for epoch in (0, 1):
        plan = sampler.plan(epoch)
        assert sum(d.source == "synthetic" for d in plan) == 4  # 0.25 of 16, every epoch
        drawn = [sampler.get(epoch, k) for k in range(16)]
        gan = [s for s in drawn if s.provenance.source == "gan"]
        assert len(gan) == 4 and all(s.provenance.parent_id is None for s in gan)
        for s in gan:  # the label served is the class the generator was asked to paint
            assert s.label == s.provenance.params["label"]


def test_tf_data_and_a_dataloader_give_the_same_labels_the_generator_was_asked_for(trained):
    import torch
    from torch.utils.data import DataLoader

    from augkit.sampling.torch import MixedTorchDataset

    sampler = live_sampler(trained)
    expected = [["normal", "pneumonia"].index(sampler.get(0, k).label) for k in range(16)]
    sources = [sampler.get(0, k).provenance.source for k in range(16)]
    batch = next(iter(as_tf_dataset(sampler, batch_size=16, task="classification", as_dict=True)))
    assert batch["label"].numpy().tolist() == expected
    assert [s.decode() for s in batch["source"].numpy()] == sources and sources.count("gan") == 4
    assert batch["image"].shape == (16, SIDE, SIDE, 1)
    loader = DataLoader(MixedTorchDataset(live_sampler(trained), task="classification", epoch=0),
                        batch_size=16)
    images, labels = next(iter(loader))
    assert labels.dtype == torch.int64 and labels.tolist() == expected
    assert images.shape == (16, 1, SIDE, SIDE)


def test_a_generator_that_returns_another_class_is_refused(trained):
    from augkit.errors import UsageError

    class Liar:
        name = "liar"
        tasks = frozenset({"classification"})

        def generate(self, num_samples, *, seed, conditions=None, batch_size=16):
            from augkit.sample import Provenance, Sample
            for i in range(num_samples):
                yield Sample(np.zeros((SIDE, SIDE, 1), np.uint8), Provenance(f"l{i}", source="gan"),
                             label="normal")

    real = read_dataset(trained[0]).samples
    source = GeneratorSource(Liar(), real, conditions="classes", pool_size=4, batch_size=4)
    with pytest.raises(UsageError, match="asked for class 'pneumonia' and returned a sample labelled 'normal'"):
        source.get(1)


def test_expand_refuses_a_generator_that_paints_another_class(trained, tmp_path):
    from augkit.expand.run import expand
    from augkit.errors import UsageError
    from augkit.sample import Provenance, Sample

    class OneClass:
        """Claims classification, but paints every sample as 'normal' whatever it is asked."""
        name = "oneclass"
        tasks = frozenset({"classification"})
        checkpoint_hash = "0" * 12

        def generate(self, num_samples, *, seed, conditions=None, batch_size=16):
            for i in range(num_samples):
                yield Sample(np.zeros((SIDE, SIDE, 1), np.uint8), Provenance(f"o{i}", source="gan"),
                             label="normal")

    with pytest.raises(UsageError, match="asked for class 'pneumonia' and returned a sample labelled 'normal'"):
        expand(trained[0], 20, tmp_path / "o", generator=OneClass(), gan_fraction=1.0, progress=False)
    assert not (tmp_path / "o").exists()

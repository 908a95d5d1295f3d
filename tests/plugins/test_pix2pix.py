"""pix2pix generator contract on the tiny profile (16 px, 1-2 epochs of 1-2 steps)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import tensorflow  # noqa: F401  (required: a broken install fails, it is not skipped)

from augkit.errors import DataError, ModelError, UsageError  # noqa: E402
from augkit.sample import Provenance, Sample  # noqa: E402
from augkit.generators.training import CheckpointWarning  # noqa: E402
from augkit_pix2pix.generator import Pix2Pix  # noqa: E402


def make_samples(num, *, shape=(20, 24), channels=3, dtype=np.uint8, labels=(0, 255), seed=0):
    """Bright blob where the mask is set, darker background: a learnable toy pairing."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(num):
        mask = np.full(shape, labels[0], dtype=np.uint8 if max(labels) < 256 else np.int16)
        r, c = rng.integers(2, shape[0] - 8), rng.integers(2, shape[1] - 8)
        for k, label in enumerate(labels[1:]):
            mask[r + k:r + 6 - k, c + k:c + 6 - k] = label
        top = 255 if dtype == np.uint8 else 3000
        image = rng.integers(0, top // 4, (*shape, channels)).astype(dtype)
        image[mask != labels[0]] = top - 5
        out.append(Sample(image, Provenance(f"toy{seed}-{i}"), mask=mask))
    return out


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny model trained 2 epochs with a checkpoint folder, shared by the read-only tests."""
    ckpt = tmp_path_factory.mktemp("ckpt")
    model = Pix2Pix("tiny", seed=3)
    history = model.fit(make_samples(4), val_samples=make_samples(2, seed=9), epochs=2, seed=0,
                        checkpoint_dir=ckpt, progress=False)
    return model, history, ckpt


def test_registered_through_entry_point():
    """The entry point names the plugin module, whose hook registers Pix2Pix (checked on a
    private manager so other plugins' state does not matter)."""
    import importlib.metadata

    import augkit_pix2pix
    from augkit.registry.host import _new_manager, collect

    (ep,) = [e for e in importlib.metadata.entry_points(group="augkit") if e.name == "pix2pix"]
    assert ep.value == "augkit_pix2pix"
    pm = _new_manager()
    pm.register(augkit_pix2pix, name="pix2pix")
    assert collect(pm).generators == {"pix2pix": Pix2Pix}
    assert Pix2Pix.tasks == {"segmentation"}


def test_fit_returns_finite_history(trained):
    model, history, _ = trained
    for key in ("d_loss", "g_loss", "g_gan", "g_l1", "val_l1"):
        assert len(history[key]) == 2, key
        assert np.isfinite(history[key]).all(), key
    assert model.epochs_trained == 2


def test_fit_writes_reports(trained):
    _, _, ckpt = trained
    assert (ckpt / "history.csv").read_text().startswith("epoch,")
    assert (ckpt / "losses.png").stat().st_size > 0
    assert sorted(p.name for p in (ckpt / "samples").glob("*.png")) == ["epoch-0001.png", "epoch-0002.png"]


def test_generate_keeps_condition_masks_exactly(trained):
    model, _, _ = trained
    rng = np.random.default_rng(1)
    masks = [np.where(rng.random((33, 27)) > 0.7, 255, 0).astype(np.uint8),  # any size: resized inside
             np.zeros((16, 16), np.uint8)]
    out = list(model.generate(5, seed=11, conditions=masks, batch_size=2))
    assert len(out) == 5
    for i, s in enumerate(out):
        cond = masks[i % 2]
        assert s.mask.dtype == cond.dtype and np.array_equal(s.mask, cond)
        assert s.image.shape == (*cond.shape, 3) and s.image.dtype == np.uint8
        p = s.provenance
        assert (p.source, p.generator, p.checkpoint_hash, p.seed) == ("gan", "pix2pix", model.checkpoint_hash, 11)
    assert out[0].mask is not masks[0]  # a copy: the caller's array is not shared


def test_generate_from_samples_records_parent(trained):
    model, _, _ = trained
    parent = make_samples(1, seed=5)[0]
    (s,) = model.generate(1, seed=0, conditions=[parent])
    assert s.provenance.parent_id == parent.id and np.array_equal(s.mask, parent.mask)


def _images(model, seed, masks, batch_size=16):
    return [s.image for s in model.generate(len(masks), seed=seed, conditions=masks, batch_size=batch_size)]


def test_generate_is_deterministic_without_inference_dropout(trained):
    model, _, _ = trained
    masks = [s.mask for s in make_samples(3, seed=4)]
    a, b = _images(model, 5, masks), _images(model, 6, masks, batch_size=1)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


def test_inference_dropout_is_seeded_per_sample():
    model = Pix2Pix("tiny", inference_dropout=True)
    model.fit(make_samples(2), epochs=1, progress=False)
    masks = [s.mask for s in make_samples(3, seed=4)]
    a, b = _images(model, 5, masks, batch_size=16), _images(model, 5, masks, batch_size=1)
    c = _images(model, 6, masks)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))  # batch does not matter
    assert any(not np.array_equal(x, y) for x, y in zip(a, c))  # the seed does
    (first,) = _images(model, 5, masks[:1])
    assert np.array_equal(first, a[0])  # sample 0 of a call depends on (seed, 0) only


def test_generate_bad_calls(trained):
    model, _, _ = trained
    with pytest.raises(UsageError, match="needs conditions"):
        model.generate(2, seed=0)
    with pytest.raises(UsageError, match=r"label values \[7\]"):
        model.generate(1, seed=0, conditions=[np.full((8, 8), 7, np.uint8)])
    with pytest.raises(UsageError, match="H×W integer label map"):
        model.generate(1, seed=0, conditions=[np.zeros((8, 8), np.float32)])
    with pytest.raises(ModelError, match="not trained"):
        Pix2Pix("tiny").generate(1, seed=0, conditions=[np.zeros((8, 8), np.uint8)])


def test_save_load_generate_identical(trained, tmp_path):
    model, _, _ = trained
    model.save(tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["generator"] == "pix2pix" and config["format_version"] == Pix2Pix.format_version
    assert config["config"] == model.get_config()
    assert {"generator.weights.h5", "discriminator.weights.h5"} <= {p.name for p in (tmp_path / "m").iterdir()}
    loaded = Pix2Pix.load(tmp_path / "m")
    assert loaded.checkpoint_hash == model.checkpoint_hash
    assert loaded.epochs_trained == 2
    masks = [s.mask for s in make_samples(2, seed=8)]
    a = [s.image for s in model.generate(2, seed=3, conditions=masks)]
    b = [s.image for s in loaded.generate(2, seed=3, conditions=masks)]
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


def _one_line(err) -> str:
    message = str(err.value)
    assert "\n" not in message
    return message


def test_load_refuses_other_folders(trained, tmp_path):
    model, _, _ = trained
    with pytest.raises(ModelError, match="config.json missing") as err:
        Pix2Pix.load(tmp_path / "nothing")
    assert str(tmp_path / "nothing") in _one_line(err)

    model.save(tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "config.json").read_text())
    other = tmp_path / "other"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({**meta, "generator": "dcgan"}))
    with pytest.raises(ModelError, match="'dcgan' model, not a pix2pix") as err:
        Pix2Pix.load(other)
    assert str(other) in _one_line(err)

    (other / "config.json").write_text(json.dumps({**meta, "format_version": Pix2Pix.format_version + 1}))
    with pytest.raises(ModelError, match="newer") as err:
        Pix2Pix.load(other)
    assert str(other) in _one_line(err)

    (tmp_path / "m" / "generator.weights.h5").write_bytes(b"not hdf5")
    with pytest.raises(ModelError, match="cannot be loaded"):
        Pix2Pix.load(tmp_path / "m")


def test_resume_continues_where_the_kill_left_it(tmp_path, epochs_run):
    train, val = make_samples(4), make_samples(2, seed=9)
    whole = Pix2Pix("tiny", seed=2)
    whole.fit(train, val_samples=val, epochs=2, seed=1, progress=False)

    first = Pix2Pix("tiny", seed=2)
    first.fit(train, val_samples=val, epochs=1, seed=1, checkpoint_dir=tmp_path, progress=False)
    assert first.epochs_trained == 1
    resumed = Pix2Pix("tiny", seed=2)  # a new process after the kill
    epochs_run.clear()
    history = resumed.fit(train, val_samples=val, epochs=2, seed=1, checkpoint_dir=tmp_path, progress=False)
    assert resumed.epochs_trained == 2 and len(history["g_loss"]) == 2
    assert len(epochs_run) == 1  # only epoch 2 was trained; epoch 1 came from the checkpoint
    assert history["seconds"][:1] == first.history["seconds"]
    assert history["g_loss"] == pytest.approx(whole.history["g_loss"], rel=1e-5)
    assert resumed._best.epoch == whole._best.epoch  # best-weights tracking survives the kill
    for a, b in zip(resumed._gan.generator.weights, whole._gan.generator.weights):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)

    # a later fit with the epochs already reached trains nothing
    epochs_run.clear()
    assert Pix2Pix("tiny", seed=2).fit(train, val_samples=val, epochs=2, seed=1, checkpoint_dir=tmp_path,
                                       progress=False)["g_loss"] == history["g_loss"]
    assert epochs_run == []
    with pytest.raises(ModelError, match="seed=1"):
        Pix2Pix("tiny", seed=2).fit(train, epochs=3, seed=5, checkpoint_dir=tmp_path, progress=False)
    with pytest.raises(ModelError, match="new checkpoint_dir"):
        Pix2Pix("tiny", seed=2, l1_weight=10.0).fit(train, epochs=3, seed=1, checkpoint_dir=tmp_path,
                                                    progress=False)


def test_damaged_checkpoint_falls_back(tmp_path):
    train = make_samples(2)
    Pix2Pix("tiny").fit(train, epochs=2, checkpoint_dir=tmp_path, progress=False)
    (tmp_path / "epoch-0002" / "arrays.npz").write_bytes(b"half a file")
    model = Pix2Pix("tiny")
    with pytest.warns(CheckpointWarning, match="epoch-0002"):
        model.fit(train, epochs=2, checkpoint_dir=tmp_path, progress=False)
    assert model.epochs_trained == 2 and len(model.history["g_loss"]) == 2
    for path in tmp_path.glob("epoch-*"):
        (path / "state.json").write_text("{")
    with pytest.warns(CheckpointWarning), pytest.raises(ModelError, match="no readable checkpoint"):
        Pix2Pix("tiny").fit(train, epochs=3, checkpoint_dir=tmp_path, progress=False)


def test_training_is_deterministic():
    """Golden-value check: two in-process runs give the same losses; another seed does not."""
    def run(seed):  # 4 samples, batch 2, 1 epoch: two training steps
        model = Pix2Pix("tiny", seed=4, epochs=1)
        return model.fit(make_samples(4), seed=seed, progress=False)

    a, b, c = run(0), run(0), run(1)
    assert a["g_loss"] == b["g_loss"] and a["d_loss"] == b["d_loss"]
    assert a["g_loss"] != c["g_loss"]


def test_bad_training_input():
    good = make_samples(3)
    with pytest.raises(DataError, match="has no mask"):
        Pix2Pix("tiny").fit([*good, Sample(good[0].image, Provenance("nomask"))], progress=False)
    with pytest.raises(DataError, match="at least 2"):
        Pix2Pix("tiny").fit(good[:1], progress=False)
    with pytest.raises(DataError, match="4-channel"):
        Pix2Pix("tiny").fit([*good, *make_samples(1, channels=4)], progress=False)
    with pytest.raises(UsageError, match="no training mask"):
        Pix2Pix("tiny").fit(good, val_samples=make_samples(1, labels=(0, 3)), progress=False)
    with pytest.raises(UsageError, match="unknown pix2pix setting"):
        Pix2Pix("tiny", colour=True)
    with pytest.raises(UsageError, match="unknown pix2pix profile"):
        Pix2Pix("huge")
    with pytest.raises(UsageError, match="power of two"):
        Pix2Pix("tiny", size=48)


def test_multiclass_int16_four_channels(tmp_path):
    """BraTS-like data: labels {0,1,2,4}, 4 int16 channels, scale from the data."""
    train = make_samples(3, channels=4, dtype=np.int16, labels=(0, 1, 2, 4), shape=(24, 24))
    model = Pix2Pix("tiny")
    model.fit(train, epochs=1, progress=False)
    assert model.spec.label_values == (0, 1, 2, 4) and model.spec.num_channels == 4
    assert all(h > 0 for h in model.spec.high)
    (s,) = model.generate(1, seed=0, conditions=[train[0].mask])
    assert s.image.dtype == np.int16 and s.image.shape == (24, 24, 4)
    assert np.array_equal(s.mask, train[0].mask)
    model.save(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["data"]["label_values"] == [0, 1, 2, 4]


def test_real_lgg_slices(shared_data):
    """Two real 256×256 LGG slices through the tiny profile: sizes, dtype and masks survive."""
    import tifffile

    masks = sorted((shared_data / "lgg" / "train30").rglob("*_mask.tif"))[:2]
    assert len(masks) == 2, f"LGG train30 under {shared_data} has fewer than 2 masks"
    samples = [Sample(tifffile.imread(str(m).replace("_mask.tif", ".tif")), Provenance(m.stem),
                      mask=tifffile.imread(m)) for m in masks]
    model = Pix2Pix("tiny")
    model.fit(samples, epochs=1, progress=False)
    assert model.spec.label_values == (0, 255)
    (s,) = model.generate(1, seed=0, conditions=[samples[1].mask])
    assert s.image.shape == (256, 256, 3) and s.image.dtype == np.uint8
    assert np.array_equal(s.mask, samples[1].mask)

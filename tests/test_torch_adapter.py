import importlib
import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, get_worker_info

from augkit.sample import Provenance, Sample
from augkit.sampling.sampler import EpochRepeatWarning, MixedSampler
from augkit.sampling.torch import MixedTorchDataset
from augkit.transforms.pipeline import ClassicalPipeline

SIZE = 16


def make_samples(n, prefix="r", labels=None, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        mask = np.zeros((SIZE, SIZE), np.uint8)
        mask[3:11, 1 + i % 5: 12] = 255
        out.append(Sample(image=rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8), mask=mask,
                          label=None if labels is None else labels[i % len(labels)],
                          provenance=Provenance(id=f"{prefix}{i}")))
    return out


def mixed(epoch_size=24, seed=0):
    return MixedSampler(make_samples(6), make_samples(6, "s", seed=1), transforms=ClassicalPipeline(),
                        epoch_size=epoch_size, seed=seed)


class WhoDrewIt(MixedTorchDataset):
    """Also reports the position and the worker that produced it (module level: picklable)."""

    def __getitem__(self, k):
        image, mask = super().__getitem__(k)
        info = get_worker_info()
        return image, mask, k, -1 if info is None else info.id


def test_segmentation_items_are_chw_float_and_long_masks():
    ds = MixedTorchDataset(mixed())
    image, mask = ds[3]
    assert image.dtype == torch.float32 and image.shape == (3, SIZE, SIZE)
    assert mask.dtype == torch.int64 and mask.shape == (SIZE, SIZE)
    assert 0.0 <= image.min() and image.max() <= 1.0 and set(mask.unique().tolist()) <= {0, 1}
    sample = ds.sampler.get(0, 3)
    assert np.allclose(image.numpy(), sample.image.transpose(2, 0, 1) / 255.0)
    assert len(ds) == 24


def test_one_hot_masks_are_channels_first():
    image, mask = MixedTorchDataset(mixed(), one_hot=True)[0]
    assert mask.dtype == torch.float32 and mask.shape == (2, SIZE, SIZE)
    assert torch.equal(mask.sum(0), torch.ones(SIZE, SIZE))


@pytest.mark.parametrize("one_hot", [False, True])
def test_classification_items(one_hot):
    s = MixedSampler(make_samples(6, labels=["b", "a", "c"]), epoch_size=6)
    ds = MixedTorchDataset(s, task="classification", one_hot=one_hot)
    image, label = ds[2]
    expected = ["a", "b", "c"].index(s.get(0, 2).label)
    assert image.shape == (3, SIZE, SIZE)
    if one_hot:
        assert label.dtype == torch.float32 and label.shape == (3,) and int(label.argmax()) == expected
    else:
        assert label.dtype == torch.int64 and label.shape == () and int(label) == expected


def test_two_workers_never_repeat_each_others_draws():
    ds = WhoDrewIt(mixed(epoch_size=24, seed=3))
    loader = DataLoader(ds, batch_size=4, num_workers=2, worker_init_fn=ds.worker_init_fn)
    images, masks, positions, workers = [], [], [], []
    for image, mask, k, worker in loader:
        images.append(image)
        masks.append(mask)
        positions += k.tolist()
        workers += worker.tolist()
    assert set(workers) == {0, 1}
    assert sorted(positions) == list(range(24))  # every position once, none twice
    by_worker = {w: [p for p, ww in zip(positions, workers) if ww == w] for w in (0, 1)}
    assert not set(by_worker[0]) & set(by_worker[1])
    # Workers drawing from one shared RNG state would make worker 1 repeat worker 0's images.
    images = torch.cat(images)
    first = {w: images[positions.index(by_worker[w][0])] for w in (0, 1)}
    assert not torch.equal(first[0], first[1])
    # ... and the result is what a single process makes, whatever the number of workers.
    fresh = MixedTorchDataset(mixed(epoch_size=24, seed=3))  # ds has served this epoch already
    single = [fresh[k][0] for k in positions]
    assert all(torch.equal(a, b) for a, b in zip(images, single))


def test_set_epoch_reaches_the_workers():
    ds = MixedTorchDataset(mixed(epoch_size=8, seed=5))
    loader = DataLoader(ds, batch_size=8, num_workers=2)
    epoch0 = next(iter(loader))[0]
    ds.set_epoch(1)
    epoch1 = next(iter(loader))[0]
    assert not torch.equal(epoch0, epoch1)
    ds.set_epoch(1)  # once more, on purpose: no repeat warning
    assert torch.equal(epoch1[0], ds[0][0]) and ds.sampler.epoch == 1


def test_dataset_pickles_with_its_transforms():
    ds = MixedTorchDataset(mixed(seed=6))
    ds.set_epoch(2)
    copy = pickle.loads(pickle.dumps(ds))
    assert copy.epoch == 2
    (a, b), (c, d) = copy[5], ds[5]
    assert torch.equal(a, c) and torch.equal(b, d)


def test_worker_init_fn_seeds_each_worker_differently():
    ds = MixedTorchDataset(mixed())
    ds.worker_init_fn(0)
    a = torch.rand(1).item()
    ds.worker_init_fn(1)
    b = torch.rand(1).item()
    ds.worker_init_fn(0)
    assert torch.rand(1).item() == a != b


def test_the_core_works_without_torch():
    # albumentations itself imports torch when it is installed, so "not in sys.modules" cannot
    # be the check; blocking torch proves the core never needs it.
    code = ("import sys; sys.modules['torch'] = None; "
            "import augkit, augkit.sampling.sampler, augkit.sampling.tfdata, augkit.expand.run; "
            "from augkit.sampling.sampler import MixedSampler")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_a_missing_torch_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` fail
    monkeypatch.delitem(sys.modules, "augkit.sampling.torch")
    with pytest.raises(ModuleNotFoundError, match=r"pip install 'augkit\[torch\]'"):
        importlib.import_module("augkit.sampling.torch")


def test_a_loop_that_forgets_set_epoch_is_warned_once():
    ds = WhoDrewIt(mixed(epoch_size=8, seed=7))
    loader = DataLoader(ds, batch_size=4)
    first = [x for x, *_ in loader]
    with pytest.warns(EpochRepeatWarning, match="epoch 0") as caught:
        again = [x for x, *_ in loader]
        [x for x, *_ in loader]
    assert len(caught) == 1
    assert all(torch.equal(a, b) for a, b in zip(first, again))  # what it warns about
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for epoch in (1, 2, 2):  # the convention, and a repeat asked for on purpose
            ds.set_epoch(epoch)
            [x for x, *_ in loader]


def test_the_repeat_is_seen_across_worker_processes():
    # each epoch's workers are new processes: what they served is shared with the next ones
    ds = MixedTorchDataset(mixed(epoch_size=8, seed=8))
    loader = DataLoader(ds, batch_size=2, num_workers=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # workers inherit it: the warning comes back raised
        list(loader)
        with pytest.raises(EpochRepeatWarning, match="epoch 0"):
            list(loader)


def test_set_epoch_reaches_persistent_workers():
    ds = MixedTorchDataset(mixed(epoch_size=4, seed=9))
    loader = DataLoader(ds, batch_size=4, num_workers=1, persistent_workers=True)
    epochs = []
    for epoch in range(2):
        ds.set_epoch(epoch)
        epochs.append(next(iter(loader))[0])
    fresh = MixedTorchDataset(mixed(epoch_size=4, seed=9), epoch=1)
    assert torch.equal(epochs[1], torch.stack([fresh[k][0] for k in range(4)]))
    assert not torch.equal(epochs[0], epochs[1])


def test_dict_items_say_where_each_sample_came_from():
    real = make_samples(4)
    synthetic = [Sample(s.image, Provenance(f"g{i}", source="gan"), mask=s.mask)
                 for i, s in enumerate(make_samples(4, "g", seed=2))]
    sampler = MixedSampler(real, synthetic, synthetic_fraction=0.5, transforms=ClassicalPipeline(),
                           epoch_size=10, seed=4)
    ds = MixedTorchDataset(sampler, as_dict=True)
    batch = next(iter(DataLoader(ds, batch_size=10)))
    assert set(batch) == {"image", "mask", "source", "id"}
    assert batch["image"].shape == (10, 3, SIZE, SIZE) and batch["mask"].dtype == torch.int64
    plan = sampler.plan(0)
    assert batch["source"] == ["gan" if d.source == "synthetic" else "real" for d in plan]
    assert batch["source"].count("gan") == 5
    stored = {"real": real, "synthetic": synthetic}
    assert batch["id"] == [stored[d.source][d.index].id for d in plan]
    plain = MixedTorchDataset(mixed(epoch_size=4), epoch=0)[0]
    assert isinstance(plain, tuple) and len(plain) == 2  # tuples stay the default

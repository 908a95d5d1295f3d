import importlib
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, get_worker_info

from augkit.sample import Provenance, Sample
from augkit.sampler import MixedSampler
from augkit.torch import MixedTorchDataset
from augkit.transforms import ClassicalPipeline

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
    single = [ds[k][0] for k in positions]
    assert all(torch.equal(a, b) for a, b in zip(images, single))


def test_set_epoch_reaches_the_workers():
    ds = MixedTorchDataset(mixed(epoch_size=8, seed=5))
    loader = DataLoader(ds, batch_size=8, num_workers=2)
    epoch0 = next(iter(loader))[0]
    ds.set_epoch(1)
    epoch1 = next(iter(loader))[0]
    assert not torch.equal(epoch0, epoch1)
    assert torch.equal(epoch1[0], ds[0][0]) and ds.sampler.epoch == 1


def test_dataset_pickles_with_its_transforms():
    ds = MixedTorchDataset(mixed(seed=6))
    ds.set_epoch(2)
    copy = pickle.loads(pickle.dumps(ds))
    assert copy.epoch == 2
    assert torch.equal(copy[5][0], ds[5][0]) and torch.equal(copy[5][1], ds[5][1])


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
            "import augkit, augkit.sampler, augkit.tfdata, augkit.engine; "
            "from augkit.sampler import MixedSampler")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_a_missing_torch_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` fail
    monkeypatch.delitem(sys.modules, "augkit.torch")
    with pytest.raises(ModuleNotFoundError, match=r"pip install 'augkit\[torch\]'"):
        importlib.import_module("augkit.torch")

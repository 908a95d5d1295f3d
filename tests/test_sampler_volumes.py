"""The sampler on whole NIfTI cases: whole volumes or seeded patches, the exact synthetic share,
tf.data and torch shapes, and a whole-case ``expand`` output read lazily."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from augkit.expand.run import expand
from augkit.errors import UsageError
from augkit.io import read_dataset
from augkit.io.volumes import LazySamples
from augkit.sampling.encoding import Encoder
from augkit.sampling.sampler import MixedSampler
from augkit.sampling.sources import FolderSource, ManifestCases, split_expanded
from augkit.transforms.volume import VolumePipeline

SHAPE = (24, 24, 12)
PATCH = (16, 16, 8)
LABELS = {0, 1, 2, 4}

_spec = importlib.util.spec_from_file_location("_volume_cases",
                                              Path(__file__).parent / "io" / "test_volumes.py")
_volume_cases = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_volume_cases)
brats = _volume_cases._brats  # the tiny BraTS case writer of the reader's tests


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    return brats(tmp_path_factory.mktemp("in"), shape=SHAPE)


@pytest.fixture(scope="module")
def expanded(cases, tmp_path_factory):
    """A real ``expand`` output: the 2 cases and 2 new ones."""
    out = tmp_path_factory.mktemp("exp") / "out"
    expand(cases, 4, out, seed=1, progress=False)
    return out


def test_patches_have_the_asked_shape_and_the_case_labels(cases):
    sampler = MixedSampler(read_dataset(cases), patch_size=PATCH, patch_foreground=0.5,
                           epoch_size=12, seed=3)
    for k in range(12):
        s = sampler.get(0, k)
        assert s.is_volume and s.image.shape == (*PATCH, 4) and s.mask.shape == PATCH
        assert set(np.unique(s.mask).tolist()) <= LABELS
    always = MixedSampler(read_dataset(cases), patch_size=PATCH, patch_foreground=1.0, seed=0, epoch_size=6)
    assert all((always.get(0, k).mask > 0).any() for k in range(6))
    big = MixedSampler(read_dataset(cases), patch_size=(32, 20, 16), seed=0).get(0, 0)
    assert big.image.shape == (32, 20, 16, 4)  # x and z padded with 0, centred; y cropped
    assert not big.image[:4].any() and not big.image[-4:].any() and not big.mask[:, :, :2].any()
    whole = MixedSampler(read_dataset(cases), seed=0).get(0, 1)
    assert whole.image.shape == (*SHAPE, 4)


def test_same_seed_same_patches_in_any_order(cases):
    def sampler():
        return MixedSampler(read_dataset(cases), patch_size=PATCH, patch_foreground=0.5,
                            transforms=VolumePipeline(), epoch_size=6, seed=7)

    forward = {k: sampler().get(1, k) for k in range(6)}
    other = sampler()
    for k in reversed(range(6)):
        s = other.get(1, k)
        assert s.meta["patch_start"] == forward[k].meta["patch_start"]
        np.testing.assert_array_equal(s.image, forward[k].image)
        np.testing.assert_array_equal(s.mask, forward[k].mask)
    assert len({tuple(s.meta["patch_start"]) for s in forward.values()}) > 1


def test_from_expanded_reads_cases_lazily_with_their_provenance(expanded, monkeypatch):
    with pytest.raises(UsageError, match="evaluate works on 2D samples"):
        split_expanded(expanded)  # evaluate still refuses whole cases
    loads = []
    real_getitem = LazySamples.__getitem__
    monkeypatch.setattr(LazySamples, "__getitem__", lambda self, i: loads.append(i) or real_getitem(self, i))
    sampler = MixedSampler.from_expanded(expanded, synthetic_fraction=0.25, epoch_size=8,
                                         patch_size=PATCH, seed=0)
    assert loads == []  # nothing loaded up front
    encoder = Encoder(sampler)
    assert len(loads) == 1 and encoder.label_values == [0, 1, 2, 4]  # one case, for its shape
    assert isinstance(sampler.real.samples, ManifestCases) and len(sampler.real) == 2
    assert isinstance(sampler.synthetic.samples, ManifestCases) and len(sampler.synthetic) == 2
    made = sampler.synthetic.get(0)
    assert made.provenance.source == "classical" and made.provenance.parent_id in {"c1", "c2"}
    for epoch in range(3):  # the exact share: round(0.25 × 8) = 2 per epoch
        origins = [sampler.get_with_origin(epoch, k)[1]["source"] for k in range(8)]
        assert origins.count("classical") == 2 and origins.count("real") == 6
    folder = FolderSource(expanded)
    assert len(folder) == 2 and isinstance(folder.samples, ManifestCases)
    assert folder.get(1).image.shape == (*SHAPE, 4)


def test_tf_dataset_gives_3d_batches(expanded):
    import tensorflow as tf  # a required dependency: missing, the test fails rather than skips

    from augkit.sampling.tfdata import as_tf_dataset

    sampler = MixedSampler.from_expanded(expanded, synthetic_fraction=0.5, patch_size=PATCH, seed=0)
    ds = as_tf_dataset(sampler, batch_size=2)
    assert ds.element_spec[0].shape.as_list() == [None, *PATCH, 4]
    image, mask = next(iter(ds))
    assert image.shape == (2, *PATCH, 4) and image.dtype == tf.float32
    assert mask.shape == (2, *PATCH) and mask.dtype == tf.int32
    assert set(np.unique(mask.numpy()).tolist()) <= {0, 1, 2, 3}  # indices of {0, 1, 2, 4}
    assert 0.0 <= float(tf.reduce_min(image)) and float(tf.reduce_max(image)) <= 1.0


def test_torch_batches_do_not_depend_on_the_number_of_workers(expanded):
    pytest.importorskip("torch")
    from torch.utils.data import DataLoader

    from augkit.sampling.torch import MixedTorchDataset

    def batches(num_workers):
        sampler = MixedSampler.from_expanded(expanded, synthetic_fraction=0.5, patch_size=PATCH,
                                             patch_foreground=0.5, epoch_size=6, seed=2)
        ds = MixedTorchDataset(sampler)
        ds.set_epoch(1)
        return list(DataLoader(ds, batch_size=2, num_workers=num_workers))

    zero, two = batches(0), batches(2)
    assert len(zero) == 3
    image, mask = zero[0]
    assert tuple(image.shape) == (2, 4, *PATCH) and str(image.dtype) == "torch.float32"
    assert tuple(mask.shape) == (2, *PATCH) and str(mask.dtype) == "torch.int64"
    for (a, b), (c, d) in zip(zero, two):
        assert (a == c).all() and (b == d).all()


def test_bad_patch_settings_are_refused(cases):
    with pytest.raises(UsageError, match="patch_size must be three"):
        MixedSampler(read_dataset(cases), patch_size=(16, 16))
    with pytest.raises(UsageError, match="patch_foreground"):
        MixedSampler(read_dataset(cases), patch_size=PATCH, patch_foreground=2)


def test_a_sampler_over_lazy_cases_pickles_for_spawned_workers(cases, expanded):
    """DataLoader workers started with spawn (macOS, Windows) get the sampler by pickle: the lazy
    case readers must pickle and give the same patches on the other side."""
    import pickle

    for sampler in (MixedSampler(read_dataset(cases), patch_size=PATCH, seed=5, epoch_size=4),
                    MixedSampler.from_expanded(expanded, synthetic_fraction=0.5, patch_size=PATCH,
                                               seed=5, epoch_size=4)):
        copy = pickle.loads(pickle.dumps(sampler))
        for k in range(4):
            a, b = sampler.get(0, k), copy.get(0, k)
            assert np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask)


def test_a_fixed_case_is_scanned_once_and_each_patch_is_the_one_a_full_scan_gives(cases, monkeypatch):
    """A fixed case's labelled voxels and intensity range are kept per process (the whole-case
    scan was half a 3D training step): 20 patches of 2 cases scan each case once, and every
    patch's start and intensity range are those drawn from a full scan of its case."""
    import augkit.sampling.sampler as sampler_module
    from augkit.sampling.patches import draw_patch_start
    from augkit.seeding import rng_for

    scans = []
    scan = sampler_module.labelled_voxels
    monkeypatch.setattr(sampler_module, "labelled_voxels", lambda mask: (scans.append(1), scan(mask))[1])
    patched = MixedSampler(read_dataset(cases), patch_size=PATCH, patch_foreground=1.0, epoch_size=10, seed=5)
    whole = MixedSampler(read_dataset(cases), epoch_size=10, seed=5)  # the same draws, no patches
    for epoch in range(2):
        for k in range(10):
            s, case = patched.get(epoch, k), whole.get(epoch, k)
            start = draw_patch_start(rng_for(5, sampler_module._PATCH_STREAM, epoch, k), case.image.shape, PATCH,
                                     1.0, case.mask)
            assert s.meta["patch_start"] == list(start)
            axes = (0, 1, 2)
            assert s.meta["intensity_range"] == (case.image.min(axis=axes).tolist(), case.image.max(axis=axes).tolist())
            assert (s.mask > 0).any()
    assert len(scans) == 2
    transformed = MixedSampler(read_dataset(cases), patch_size=PATCH, patch_foreground=1.0, epoch_size=4, seed=5,
                               transforms=VolumePipeline())
    for k in range(4):
        transformed.get(0, k)
    assert len(scans) == 2 + 4  # a transformed volume differs at every draw: scanned each time

import pickle
import warnings
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from augkit.errors import DataError, UsageError
from augkit.generators.contract import Generator
from augkit.sample import Provenance, Sample
from augkit.sampling.encoding import Encoder
from augkit.sampling.sampler import EpochRepeatWarning, MixedSampler
from augkit.sampling.sources import FolderSource, GeneratorSource, SyntheticSource, split_expanded
from augkit.seeding import derive_seed
from augkit.transforms.pipeline import ClassicalPipeline

SIZE = 16


def make_samples(n, prefix="r", label=None, source="real", seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        image = rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
        mask = np.zeros((SIZE, SIZE), np.uint8)
        mask[2 + i % 5: 9 + i % 5, 3:11] = 255
        lab = label(i) if callable(label) else label
        out.append(Sample(image=image, mask=mask, label=lab,
                          provenance=Provenance(id=f"{prefix}{i}", source=source)))
    return out


def synthetic_share(sampler, epoch):
    return np.mean([d.source == "synthetic" for d in sampler.plan(epoch)])


@pytest.mark.parametrize("fraction", [0.0, 0.3, 0.8, 1.0])
def test_realised_synthetic_fraction_is_exact_in_every_epoch(fraction):
    s = MixedSampler(make_samples(10), make_samples(20, "s", source="gan"),
                     synthetic_fraction=fraction, epoch_size=100, seed=3)
    for epoch in range(8):  # drawn per item, 0.30 came out anywhere in 0.24-0.36
        assert synthetic_share(s, epoch) == fraction
    small = MixedSampler(make_samples(10), make_samples(20, "s", source="gan"),
                         synthetic_fraction=fraction, epoch_size=7, seed=3)
    assert all(sum(d.source == "synthetic" for d in small.plan(e)) == round(fraction * 7)
               for e in range(8))


def test_the_plan_spreads_synthetic_positions_and_changes_by_epoch():
    def make(seed):
        return MixedSampler(make_samples(10), make_samples(20, "s", source="gan"),
                            synthetic_fraction=0.3, epoch_size=100, seed=seed)

    s = make(3)
    first = [d.source for d in s.plan(0)]
    assert first != [d.source for d in s.plan(1)]  # a new placement every epoch
    assert 5 <= first[:50].count("synthetic") <= 25  # spread out, not all first or last
    assert [d.source for d in make(3).plan(0)] == first  # (seed, epoch) decide it
    assert [d.source for d in make(4).plan(0)] != first
    # a position does not depend on which positions were asked before it
    assert [make(3).draw(0, k) for k in reversed(range(100))][::-1] == s.plan(0)


def test_scheduled_fraction_changes_by_epoch():
    s = MixedSampler(make_samples(10), make_samples(10, "s", source="gan"),
                     synthetic_fraction=lambda e: min(1.0, 0.25 * e), epoch_size=2000)
    shares = [synthetic_share(s, e) for e in range(5)]
    assert shares == [0.0, 0.25, 0.5, 0.75, 1.0]


def test_iterating_an_epoch_again_without_set_epoch_warns_once():
    s = MixedSampler(make_samples(4), make_samples(4, "s", source="gan"), epoch_size=6)
    first = [x.id for x in s]
    with pytest.warns(EpochRepeatWarning, match=r"epoch 0 .*set_epoch") as caught:
        again = [x.id for x in s]
        [x.id for x in s]
    assert len(caught) == 1 and again == first  # the repeat is what it warns about
    s.set_epoch(1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        [x.id for x in s]
        s.set_epoch(1)  # the same epoch again, on purpose
        [x.id for x in s]
        s.get(1, 0), s.get(1, 0)  # random access is not a training loop: never warned


def test_fraction_outside_0_1_is_refused_also_from_a_schedule():
    real, syn = make_samples(3), make_samples(3, "s")
    with pytest.raises(UsageError, match="synthetic_fraction"):
        MixedSampler(real, syn, synthetic_fraction=1.5)
    s = MixedSampler(real, syn, synthetic_fraction=lambda e: 0.5 if e == 0 else -0.1)
    s.get(0, 0)
    with pytest.raises(UsageError, match="epoch 1"):
        s.get(1, 0)


def test_without_synthetic_source_every_draw_is_real():
    s = MixedSampler(make_samples(5), synthetic_fraction=0.9, epoch_size=200)
    assert all(d.source == "real" for d in s.plan(0))
    assert len(s) == 200


def test_default_epoch_size_and_iteration():
    s = MixedSampler(make_samples(4), make_samples(6, "s", source="classical"))
    assert len(s) == 10
    assert [x.id for x in s] == [s.get(0, k).id for k in range(10)]


def test_class_balancing_draws_classes_uniformly():
    real = make_samples(100, label=lambda i: "rare" if i < 10 else "common")
    plain = MixedSampler(real, epoch_size=2000, seed=1)
    balanced = MixedSampler(real, epoch_size=2000, seed=1, balance_classes=True)
    share = lambda s: Counter(real[d.index].label for d in s.plan(0))["rare"] / 2000  # noqa: E731
    assert abs(share(plain) - 0.1) < 0.03
    assert abs(share(balanced) - 0.5) < 0.035


def test_class_balancing_with_synthetic_samples_keeps_class_and_fraction():
    real = make_samples(40, label=lambda i: i % 4 == 0)  # 25 % True
    syn = make_samples(40, "s", label=lambda i: i % 2 == 0, source="gan")
    s = MixedSampler(real, syn, synthetic_fraction=0.4, balance_classes=True, epoch_size=2000)
    labels = [(syn if d.source == "synthetic" else real)[d.index].label for d in s.plan(0)]
    assert abs(np.mean(labels) - 0.5) < 0.035
    assert abs(synthetic_share(s, 0) - 0.4) < 0.035


def test_class_balancing_needs_labels():
    with pytest.raises(UsageError, match="balance_classes"):
        MixedSampler(make_samples(5), balance_classes=True)


def test_same_seed_same_sequence_different_seed_different():
    real, syn = make_samples(20), make_samples(20, "s", source="gan")
    make = lambda seed: MixedSampler(real, syn, transforms=ClassicalPipeline(), seed=seed)  # noqa: E731
    a, b, c = make(7), make(7), make(8)
    assert a.plan(0) == b.plan(0) and a.plan(0) != c.plan(0)
    assert all(np.array_equal(a.get(0, k).image, b.get(0, k).image) for k in range(10))
    assert a.plan(0) != a.plan(1)


def test_a_position_does_not_depend_on_the_order_or_thread_it_is_asked_in():
    s = MixedSampler(make_samples(8), make_samples(8, "s"), transforms=ClassicalPipeline(), seed=2)
    forward = [s.get(1, k) for k in range(len(s))]
    with ThreadPoolExecutor(4) as pool:
        backward = list(pool.map(lambda k: s.get(1, k), reversed(range(len(s)))))[::-1]
    for x, y in zip(forward, backward):
        assert x.id == y.id
        assert np.array_equal(x.image, y.image) and np.array_equal(x.mask, y.mask)


def test_transforms_are_applied_on_the_fly_with_a_positional_seed():
    real = make_samples(5)
    s = MixedSampler(real, transforms=ClassicalPipeline(), seed=4)
    out = s.get(2, 3)
    parent = real[s.draw(2, 3).index]
    assert out.provenance.source == "classical" and out.provenance.parent_id == parent.id
    assert out.provenance.seed == derive_seed(4, 2, 3)
    expected, _, _ = ClassicalPipeline().apply(parent.image, parent.mask, derive_seed(4, 2, 3))
    assert np.array_equal(out.image, expected)
    assert set(np.unique(out.mask)) <= {0, 255}


def test_sampler_pickles_and_gives_the_same_samples():
    s = MixedSampler(make_samples(6), make_samples(6, "s"), transforms=ClassicalPipeline(), seed=5)
    t = pickle.loads(pickle.dumps(s))
    assert np.array_equal(s.get(3, 4).image, t.get(3, 4).image)


def test_empty_real_set_is_refused():
    with pytest.raises(UsageError, match="real"):
        MixedSampler([])


class CountingGenerator(Generator):
    """Paints the condition mask (as 0/200) plus a value that depends on the seed."""

    name = "fake"
    tasks = frozenset({"segmentation", "unconditional"})

    def __init__(self):
        self.calls = []

    def get_config(self):
        return {}

    def fit(self, train_samples, **kwargs):
        return {}

    def generate(self, num_samples, *, seed, conditions=None, batch_size=16):
        self.calls.append((num_samples, seed))
        for i in range(num_samples):
            mask = conditions[i] if conditions is not None else np.zeros((SIZE, SIZE), np.uint8)
            image = np.repeat((mask > 0).astype(np.uint8)[..., None] * 200, 3, axis=2)
            image[0, 0, 0] = (seed + i) % 251
            yield Sample(image=image, mask=mask, provenance=Provenance(id=f"g{i}", source="gan"))

    def save(self, directory):
        pass

    @classmethod
    def load(cls, directory):
        return cls()

    @property
    def checkpoint_hash(self):
        return "0" * 8


def test_generator_source_paints_real_masks_in_batches_and_is_positional():
    real = make_samples(6)
    gen = CountingGenerator()
    src = SyntheticSource.from_generator(gen, real, pool_size=10, batch_size=4, seed=1)
    assert src.conditions == "masks"
    late_first = src.get(9, epoch=0)
    assert [n for n, _ in gen.calls] == [2]  # only the batch holding item 9
    items = [src.get(i, epoch=0) for i in range(10)]
    assert sorted(n for n, _ in gen.calls) == [2, 4, 4]
    assert np.array_equal(items[9].image, late_first.image)
    real_masks = [r.mask.tobytes() for r in real]
    for item in items:
        assert item.provenance.source == "gan" and item.mask.tobytes() in real_masks
        assert item.provenance.parent_id in {r.id for r in real}
        assert np.array_equal(item.image[1:, 1:, 0] > 0, item.mask[1:, 1:] > 0)  # painted for its mask
    fresh = GeneratorSource(CountingGenerator(), real, pool_size=10, batch_size=4, seed=1)
    assert all(np.array_equal(fresh.get(i).image, items[i].image) for i in reversed(range(10)))
    seeds_epoch0 = {seed for _, seed in gen.calls}
    assert src.get(0, epoch=1).provenance.id != items[0].provenance.id  # a fresh pool per epoch
    assert gen.calls[-1][1] not in seeds_epoch0


def test_sampler_over_a_live_generator():
    real = make_samples(6)
    src = GeneratorSource(CountingGenerator(), real, pool_size=8, batch_size=4,
                          mask_transforms=ClassicalPipeline())
    s = MixedSampler(real, src, synthetic_fraction=0.5, epoch_size=40, seed=9)
    drawn = [s.get(0, k) for k in range(40)]
    kinds = Counter(x.provenance.source for x in drawn)
    assert kinds["gan"] > 5 and kinds["real"] > 5
    assert all(set(np.unique(x.mask)) <= {0, 255} for x in drawn)
    t = pickle.loads(pickle.dumps(s))
    assert np.array_equal(t.get(0, 39).image, drawn[39].image)


def test_a_bare_generator_is_refused_with_the_fix():
    with pytest.raises(UsageError, match="from_generator"):
        MixedSampler(make_samples(3), CountingGenerator())


def test_encoder_maps_label_values_to_class_indices():
    real = make_samples(3)
    enc = Encoder(MixedSampler(real))
    image, target = enc(real[0])
    assert enc.label_values == [0, 255]
    assert image.dtype == np.float32 and 0.0 <= image.min() and image.max() <= 1.0
    assert target.dtype == np.int64 and np.array_equal(target, (real[0].mask == 255).astype(np.int64))
    bad = Sample(image=real[0].image, mask=np.full((SIZE, SIZE), 7, np.uint8),
                 provenance=Provenance(id="odd"))
    with pytest.raises(DataError, match="'odd'.*mask value 7"):
        enc.target(bad)


def write_expanded(tmp_dataset, tmp_path, real):
    """An `augkit expand` output: the real pairs plus classical variants and a manifest."""
    from augkit.expand.run import expand

    files = {}
    for s in real:
        files[f"{s.id}/{s.id}.png"] = s.image
        files[f"{s.id}/{s.id}_mask.png"] = s.mask
    return expand(tmp_dataset(files), 3 * len(real), tmp_path / "out", seed=0, progress=False).out_dir


def test_folder_source_reads_the_synthetic_part_of_an_expanded_folder(tmp_dataset, tmp_path):
    out = write_expanded(tmp_dataset, tmp_path, make_samples(4))
    real, synthetic = split_expanded(out)
    assert len(real) == 4 and len(synthetic) == 8
    assert {s.provenance.source for s in real} == {"real"}
    assert {s.provenance.source for s in synthetic} == {"classical"}
    assert all(s.provenance.parent_id in {r.id for r in real} for s in synthetic)
    assert all(s.provenance.seed is not None for s in synthetic)
    assert len(FolderSource(out)) == 8
    with pytest.raises(DataError, match="gan"):
        FolderSource(out, sources=("gan",))
    s = MixedSampler.from_expanded(out, synthetic_fraction=0.5, epoch_size=400)
    assert abs(synthetic_share(s, 0) - 0.5) < 0.1
    assert MixedSampler(real, str(out)).synthetic.samples[0].provenance.source == "classical"


def test_lgg_train30_through_the_sampler(shared_data):
    from augkit.io import read_dataset

    real = read_dataset(shared_data / "lgg" / "train30")
    s = MixedSampler(real, transforms=ClassicalPipeline(), seed=0, epoch_size=4)
    sample = s.get(0, 1)
    assert sample.image.shape == (256, 256, 3) and sample.image.dtype == np.uint8
    assert set(np.unique(sample.mask)) <= {0, 255}
    assert Encoder(s).label_values == [0, 255]
    # a classical variant of a real slice, made with the position's seed
    parent = next(r for r in real.samples if r.id == sample.provenance.parent_id)
    assert sample.provenance.source == "classical" and sample.provenance.params
    again = ClassicalPipeline()(parent, seed=derive_seed(0, 0, 1), new_id=sample.id)
    assert np.array_equal(again.image, sample.image) and np.array_equal(again.mask, sample.mask)
    assert not np.array_equal(sample.image, parent.image)
    # its mask moved with the image: the tumour is still there, about as large (scale 0.9-1.1)
    area, parent_area = int((sample.mask > 0).sum()), int((parent.mask > 0).sum())
    assert parent_area == 0 or 0.6 * parent_area <= area <= 1.4 * parent_area


def test_a_folder_without_manifest_is_refused(tmp_path):
    with pytest.raises(DataError, match="manifest.csv"):
        split_expanded(tmp_path)


def test_encoder_scales_non_uint8_images_per_image_and_channel():
    image = np.stack([np.arange(SIZE * SIZE, dtype=np.int16).reshape(SIZE, SIZE) * 3 - 100,
                      np.full((SIZE, SIZE), 7, np.int16)], axis=-1)
    sample = Sample(image=image, mask=np.zeros((SIZE, SIZE), np.uint8), provenance=Provenance(id="mri"))
    out = Encoder(MixedSampler([sample])).image(sample)
    assert out.dtype == np.float32
    assert out[..., 0].min() == 0.0 and out[..., 0].max() == 1.0
    assert np.all(out[..., 1] == 0.0)  # a constant channel does not divide by zero
    raw = Encoder(MixedSampler([sample]), scale=False).image(sample)
    assert np.array_equal(raw, image.astype(np.float32))

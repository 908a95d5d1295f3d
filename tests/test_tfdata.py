import warnings

import numpy as np
import pytest
import tensorflow as tf

from augkit.errors import UsageError
from augkit.sample import Provenance, Sample
from augkit.sampling.sampler import EpochRepeatWarning, MixedSampler
from augkit.sampling.tfdata import as_tf_dataset, steps_per_epoch
from augkit.transforms.pipeline import ClassicalPipeline

SIZE = 16


def make_samples(n, prefix="r", labels=None, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        mask = np.zeros((SIZE, SIZE), np.uint8)
        mask[4:10, 2 + i % 4: 12] = 255
        out.append(Sample(image=rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8), mask=mask,
                          label=None if labels is None else labels[i % len(labels)],
                          provenance=Provenance(id=f"{prefix}{i}")))
    return out


def batches(ds):
    return [(x.numpy(), y.numpy()) for x, y in ds]


def test_segmentation_batches_have_keras_dtypes_and_mapped_masks():
    s = MixedSampler(make_samples(6), make_samples(6, "s", seed=1), transforms=ClassicalPipeline(),
                     epoch_size=10)
    ds = as_tf_dataset(s, batch_size=4)
    assert ds.element_spec[0] == tf.TensorSpec((None, SIZE, SIZE, 3), tf.float32)
    assert ds.element_spec[1] == tf.TensorSpec((None, SIZE, SIZE), tf.int32)
    out = batches(ds)
    assert [len(x) for x, _ in out] == [4, 4, 2]
    images = np.concatenate([x for x, _ in out])
    masks = np.concatenate([y for _, y in out])
    assert 0.0 <= images.min() and images.max() <= 1.0
    assert set(np.unique(masks)) == {0, 1}
    first = s.get(0, 0)
    np.testing.assert_allclose(images[0], first.image / 255.0, atol=1e-6)
    assert np.array_equal(masks[0], first.mask // 255)


def test_one_hot_masks_and_explicit_label_values():
    s = MixedSampler(make_samples(4), epoch_size=4)
    ds = as_tf_dataset(s, batch_size=4, one_hot=True, label_values=[0, 128, 255])
    assert ds.element_spec[1] == tf.TensorSpec((None, SIZE, SIZE, 3), tf.float32)
    (_, y), = batches(ds)
    assert np.array_equal(y.sum(-1), np.ones((4, SIZE, SIZE)))
    assert y[..., 1].sum() == 0 and y[..., 2].sum() > 0


@pytest.mark.parametrize("one_hot", [False, True])
def test_classification_labels(one_hot):
    s = MixedSampler(make_samples(6, labels=["tb", "normal"]), epoch_size=8, seed=2)
    ds = as_tf_dataset(s, batch_size=8, task="classification", one_hot=one_hot)
    (x, y), = batches(ds)
    expected = [["normal", "tb"].index(s.get(0, k).label) for k in range(8)]
    if one_hot:
        assert y.dtype == np.float32 and y.shape == (8, 2)
        assert y.argmax(1).tolist() == expected
    else:
        assert y.dtype == np.int32 and y.shape == (8,) and y.tolist() == expected
    assert x.shape == (8, SIZE, SIZE, 3)


def test_parallel_and_serial_give_the_same_batches_and_epochs_differ():
    s = MixedSampler(make_samples(5), make_samples(5, "s", seed=3), transforms=ClassicalPipeline(),
                     epoch_size=12, seed=4)
    parallel = batches(as_tf_dataset(s, batch_size=4, num_parallel_calls=4, num_epochs=2))
    s.set_epoch(0)  # serving epochs 0 and 1 again is on purpose
    serial = batches(as_tf_dataset(s, batch_size=4, num_parallel_calls=1, num_epochs=2))
    assert len(parallel) == 2 * steps_per_epoch(s, 4) == 6
    for (a, b), (c, d) in zip(parallel, serial):
        assert np.array_equal(a, c) and np.array_equal(b, d)
    assert not np.array_equal(parallel[0][0], parallel[3][0])  # epoch 1 is a new draw
    s.set_epoch(1)
    epoch1 = batches(as_tf_dataset(s, batch_size=4, epoch=1))
    assert np.array_equal(epoch1[0][0], parallel[3][0])


def test_a_keras_model_trains_on_it():
    import keras

    keras.utils.set_random_seed(0)
    s = MixedSampler(make_samples(4), epoch_size=4)
    model = keras.Sequential([keras.Input((SIZE, SIZE, 3)), keras.layers.Conv2D(2, 3, padding="same")])
    model.compile(optimizer=keras.optimizers.Adam(0.05),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(as_tf_dataset(s, batch_size=2, num_epochs=None), epochs=6,
                        steps_per_epoch=steps_per_epoch(s, 2), shuffle=False, verbose=0)
    losses = history.history["loss"]
    assert len(losses) == 6 and np.isfinite(losses).all()
    assert losses[-1] < 0.8 * losses[0]  # it learns from what it is fed, not just runs
    # what Keras sees through the adapter is exactly the sampler's epoch, encoded
    x = np.stack([s.get(0, k).image / np.float32(255) for k in range(4)]).astype(np.float32)
    y = np.stack([s.get(0, k).mask // 255 for k in range(4)]).astype(np.int32)
    s.set_epoch(0)  # epoch 0 once more, on purpose
    via_adapter = model.evaluate(as_tf_dataset(s, batch_size=2, num_epochs=None), steps=2, verbose=0)
    in_memory = model.evaluate(x, y, batch_size=2, verbose=0)
    assert via_adapter == pytest.approx(in_memory, rel=1e-5)


def test_bad_arguments_are_refused():
    s = MixedSampler(make_samples(2))
    with pytest.raises(UsageError, match="batch_size"):
        as_tf_dataset(s, batch_size=0)
    with pytest.raises(UsageError, match="task"):
        as_tf_dataset(s, batch_size=1, task="detection")
    with pytest.raises(UsageError, match="num_classes"):
        as_tf_dataset(s, batch_size=1, num_classes=1)
    with pytest.raises(UsageError, match="Sample.label"):
        as_tf_dataset(s, batch_size=1, task="classification")


def test_a_mask_value_outside_label_values_names_the_sample():
    s = MixedSampler(make_samples(2), epoch_size=2)
    with pytest.raises(tf.errors.OpError, match="mask value 255"):
        batches(as_tf_dataset(s, batch_size=2, label_values=[0, 1]))


def test_building_the_same_epoch_again_warns_once():
    s = MixedSampler(make_samples(4), make_samples(4, "s", seed=1), epoch_size=4)
    first = batches(as_tf_dataset(s, batch_size=4))  # epoch=0, the default
    with pytest.warns(EpochRepeatWarning, match="epoch 0"):
        again = batches(as_tf_dataset(s, batch_size=4))  # a loop that forgot epoch=
    assert np.array_equal(first[0][0], again[0][0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        batches(as_tf_dataset(s, batch_size=4, epoch=1, num_epochs=2))  # new epochs: no warning


def test_dict_batches_carry_source_and_id():
    real = make_samples(4)
    synthetic = [Sample(s.image, Provenance(f"g{i}", source="gan"), mask=s.mask)
                 for i, s in enumerate(make_samples(4, "g", seed=2))]
    s = MixedSampler(real, synthetic, synthetic_fraction=0.25, epoch_size=8, seed=5)
    ds = as_tf_dataset(s, batch_size=8, as_dict=True)
    assert set(ds.element_spec) == {"image", "mask", "source", "id"}
    assert ds.element_spec["source"] == tf.TensorSpec((None,), tf.string)
    (batch,) = list(ds)
    plan = s.plan(0)
    sources = [v.decode() for v in batch["source"].numpy()]
    assert sources == ["gan" if d.source == "synthetic" else "real" for d in plan]
    assert sources.count("gan") == 2
    stored = {"real": real, "synthetic": synthetic}
    assert [v.decode() for v in batch["id"].numpy()] == [stored[d.source][d.index].id for d in plan]
    assert batch["mask"].dtype == tf.int32 and batch["image"].shape == (8, SIZE, SIZE, 3)

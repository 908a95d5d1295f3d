"""lesiongan (local lesion painter): trains a few steps (tiny profile); paints only inside the
region around the placed lesion (every other pixel the recipient's, byte for byte); masks exact
(labels only from the recipient and a donor); determinism by (seed, index) whatever the batch
size and across save/load; refusal of data without lesion masks in one clear line."""

from __future__ import annotations

import numpy as np
import pytest

from augkit.errors import DataError, UsageError
from augkit.generators.training import weights_hash
from augkit.registry.host import get_generator
from augkit.sample import Provenance, Sample
from augkit.seeding import rng_for
from augkit.transforms.blend import feathered_alpha
from augkit.transforms.intensity import robust_range
from augkit_lesiongan.crops import foreground_range


def head_slice(seed: int, size=64, channels=3, labels=(255,), dtype=np.uint8) -> Sample:
    """A bright textured disc (the head) on black with one lesion blob (nested rings for
    BraTS-like labels)."""
    rng = rng_for(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    head = (yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (0.42 * size) ** 2
    image = np.zeros((size, size, channels), np.float32)
    image[head] = 80 + rng.uniform(0, 30, (int(head.sum()), channels))
    mask = np.zeros((size, size), np.uint8)
    cy, cx = size // 2 + int(rng.integers(-6, 7)), size // 2 + int(rng.integers(-6, 7))
    for k, label in enumerate(labels):
        r = 7 - 2 * k
        blob = (yy - cy) ** 2 + (xx - cx) ** 2 < r * r
        mask[blob] = label
        image[blob] = 160 + 30 * k
    return Sample(image.astype(dtype), Provenance(f"case{seed}/slice{seed}"), mask=mask)


def fitted(samples, epochs=2, **overrides):
    gen = get_generator("lesiongan")("tiny", seed=1, **overrides)
    gen.fit(samples, val_samples=samples[:1], epochs=epochs, seed=0, progress=False)
    return gen


@pytest.fixture(scope="module")
def trained():
    samples = [head_slice(i) for i in range(4)]
    return samples, fitted(samples)


def test_a_few_training_steps_give_finite_losses_and_a_reproducible_model(trained):
    samples, gen = trained
    assert gen.epochs_trained == 2
    for key in ("d_loss", "g_gan", "g_l1", "val_l1"):
        assert len(gen.history[key]) == 2 and np.all(np.isfinite(gen.history[key])), key
    again = fitted(samples)
    assert again.checkpoint_hash == gen.checkpoint_hash
    assert again.history["g_l1"] == gen.history["g_l1"]


def check_painting(recipient: Sample, made: Sample, gen) -> None:
    """Labels only from the recipient and the donor; the image changed only in the painted
    region (the new lesion grown by the profile's margin + feather); every pixel outside it is
    the recipient's, byte for byte."""
    params = made.provenance.params
    assert params["placed"], params
    new = made.mask != recipient.mask
    assert new.any()
    assert (recipient.mask[new] == 0).all()  # nothing written over the recipient's lesion
    donor = next(d for d in gen._placer.donors if d.donor_id == params["donor_id"])
    assert set(np.unique(made.mask[new])) <= set(np.unique(donor.labels[donor.labels > 0]))
    assert np.array_equal(made.mask[~new], recipient.mask[~new])
    side = max(recipient.image.shape[:2])
    p = gen.profile
    region = feathered_alpha(new, p.margin * side, p.feather * side) > 0
    assert made.image.dtype == recipient.image.dtype and made.image.shape == recipient.image.shape
    outside = ~region
    assert made.image[outside].tobytes() == recipient.image[outside].tobytes()
    assert not np.any(made.image != recipient.image, axis=-1)[recipient.mask > 0].any()
    assert np.any(made.image[new] != recipient.image[new])  # the lesion was painted


def test_paints_only_inside_the_region_and_masks_are_exact(trained):
    samples, gen = trained
    made = list(gen.generate(6, seed=3, conditions=samples))
    for i, m in enumerate(made):
        check_painting(samples[i % 4], m, gen)
        assert m.provenance.params["donor_id"] != samples[i % 4].id  # never its own lesion
        assert m.provenance.parent_id == samples[i % 4].id


def test_brats_like_four_channel_int16_keeps_labels_0_1_2_4():
    samples = [head_slice(i, channels=4, labels=(2, 1, 4), dtype=np.int16) for i in range(3)]
    gen = fitted(samples, epochs=1)
    for i, made in enumerate(gen.generate(3, seed=1, conditions=samples)):
        recipient = samples[i % 3]
        check_painting(recipient, made, gen)
        assert made.image.dtype == np.int16 and made.image.shape[-1] == 4
        assert set(np.unique(made.mask[made.mask != recipient.mask])) == {1, 2, 4}


def test_brats_regions_reach_the_painter_each_at_its_own_level_not_one_fill(tmp_path):
    """With labels 1/2/4 the network's lesion channel tells the regions apart (1 → 1/3, 2 → 2/3,
    4 → 1), in training crops and when painting, so it can paint each region as it looks; one
    lesion label (LGG) stays the boolean channel of before, its config unchanged."""
    samples = [head_slice(i, channels=4, labels=(2, 1, 4), dtype=np.int16) for i in range(3)]
    gen = fitted(samples, epochs=1)
    assert gen.spec.lesion_labels == (1, 2, 4)
    c = gen.spec.num_channels
    levels = {round(float(v), 4) for v in np.unique(gen._crops(gen._lesions(samples), rng_for(0), per_lesion=1)[0][..., c + 1])}
    assert levels == {0.0, round(1 / 3, 4), round(2 / 3, 4), 1.0}
    seen = []
    infer = gen._infer_fn
    gen._infer_fn = lambda x: (seen.append(np.asarray(x)), infer(x))[1]
    made = next(iter(gen.generate(1, seed=1, conditions=samples)))
    assert made.provenance.params["placed"]
    painted_levels = {round(float(v), 4) for v in np.unique(seen[0][..., c + 1])}
    assert painted_levels == {0.0, round(1 / 3, 4), round(2 / 3, 4), 1.0}, painted_levels
    gen._infer_fn = infer
    gen.save(tmp_path / "m")
    assert type(gen).load(tmp_path / "m").spec.lesion_labels == (1, 2, 4)
    lgg = get_generator("lesiongan").spec_type.from_samples([head_slice(i) for i in range(2)])
    assert lgg.lesion_labels == () and "lesion_labels" not in lgg.to_dict()
    assert lgg.lesion_map(np.array([[0, 255]])).dtype == bool


def test_scanner_units_are_scaled_per_slice_so_a_case_on_another_scale_is_not_squashed(tmp_path):
    """BraTS cases differ 40x in raw scale (one training case reaches 20,000, the others ~500):
    scaled by one range for all, the small cases' tissue sat within 3 % of [-1, 1] and the
    regions could not be told apart. Per slice, every case's lesion spans the network's range,
    and a painting on a small-scale recipient comes back in that recipient's own units."""
    small = [head_slice(i, channels=4, labels=(2, 1, 4), dtype=np.int16) for i in range(2)]
    big = head_slice(7, channels=4, labels=(2, 1, 4), dtype=np.int16)
    big = Sample((big.image.astype(np.int32) * 40).astype(np.int16), big.provenance, mask=big.mask)
    gen = fitted(small + [big], epochs=1)
    assert gen.spec.per_image
    c = gen.spec.num_channels
    x, y = gen._crops(gen._lesions(small), rng_for(0), per_lesion=1)
    inside = x[..., c] > 0
    assert np.ptp(y[inside]) > 0.5, np.ptp(y[inside])  # one range for all: < 0.05
    # a flat mid-grey painting (0 in [-1, 1]) comes back as the middle of the recipient's own
    # range (the set's range would put it at 20x the recipient's tissue, clipped to its top)
    infer = gen._infer_fn
    gen._infer_fn = lambda x: np.zeros((*np.shape(x)[:3], c), np.float32)
    made = next(iter(gen.generate(1, seed=1, conditions=small)))
    gen._infer_fn = infer
    new = made.mask != small[0].mask
    assert made.provenance.params["placed"] and new.any()
    low, high = robust_range([small[0].image])
    middle = np.clip((np.asarray(low) + np.asarray(high)) / 2, *foreground_range(small[0].image))
    assert np.allclose(np.median(made.image[new], axis=0), middle, atol=1.0), (np.median(made.image[new], axis=0), middle)
    assert (middle < foreground_range(small[0].image)[1] - 5).all()  # inside the recipient's range, not its clip
    gen.save(tmp_path / "m")
    assert type(gen).load(tmp_path / "m").spec.per_image
    lgg = get_generator("lesiongan").spec_type.from_samples([head_slice(i) for i in range(2)])
    assert not lgg.per_image and "per_image" not in lgg.to_dict()  # uint8: one scale, config as before


def test_same_seed_and_index_same_bytes_whatever_the_batch_size_and_after_save_load(trained, tmp_path):
    samples, gen = trained
    a = list(gen.generate(5, seed=9, conditions=samples, batch_size=1))
    b = list(gen.generate(5, seed=9, conditions=samples, batch_size=16))
    c = list(gen.generate(2, seed=9, conditions=samples, batch_size=2))  # a shorter run: a prefix
    gen.save(tmp_path / "model")
    loaded = type(gen).load(tmp_path / "model")
    d = list(loaded.generate(5, seed=9, conditions=samples, batch_size=3))
    assert loaded.checkpoint_hash == gen.checkpoint_hash
    for k, x in enumerate(a):
        for y in [b[k], d[k]] + ([c[k]] if k < 2 else []):
            assert x.image.tobytes() == y.image.tobytes() and np.array_equal(x.mask, y.mask)
            assert x.provenance.params == y.provenance.params
    other = list(gen.generate(5, seed=10, conditions=samples))
    assert any(x.image.tobytes() != z.image.tobytes() for x, z in zip(a, other))


def test_paint_share_keeps_the_transplant_for_the_rest_and_survives_save_load(tmp_path):
    """set_paint_share(0.5) on a trained painter: some placed lesions are painted (not the
    transplant's pixels), the others are exactly lesionmix's transplant for the same draws; the
    weights stay, the hash and the saved config record the share; outside [0, 1] is refused."""
    samples = [head_slice(i) for i in range(4)]
    gen = fitted(samples, epochs=1)
    before = gen.checkpoint_hash
    assert "painted" not in next(iter(gen.generate(1, seed=2, conditions=samples))).provenance.params
    gen.set_paint_share(0.5)
    assert gen.get_config()["paint_share"] == 0.5
    # the same weights, but another hash: expand's resume and the manifests tell the two apart
    assert weights_hash([np.asarray(w) for w in gen._gan.generator.weights]) == before
    assert gen.checkpoint_hash != before
    made = list(gen.generate(16, seed=2, conditions=samples))
    painted = [m.provenance.params["painted"] for m in made]
    assert 0 < sum(painted) < len(made)
    for i, m in enumerate(made):
        recipient = samples[i % 4]
        image, mask, _ = gen._placer.transplant(recipient, rng_for(2, i))
        assert np.array_equal(m.mask, mask)  # the same placement either way
        if painted[i]:
            check_painting(recipient, m, gen)
            assert m.image.tobytes() != image.tobytes()  # repainted, not the transplant
        else:
            assert m.image.tobytes() == image.tobytes()
    gen.save(tmp_path / "model")
    loaded = type(gen).load(tmp_path / "model")
    assert loaded.checkpoint_hash == gen.checkpoint_hash
    again = list(loaded.generate(16, seed=2, conditions=samples))
    assert [m.image.tobytes() for m in again] == [m.image.tobytes() for m in made]
    with pytest.raises(UsageError, match="paint_share"):
        gen.set_paint_share(1.5)


def test_refuses_data_without_lesion_masks_in_one_line():
    unmasked = [Sample(np.zeros((16, 16, 3), np.uint8), Provenance("a/x"), label="G2",
                       meta={"source_files": ["G2/x.png"]})]
    with pytest.raises(DataError, match="has no mask") as info:
        fitted(unmasked)
    assert "\n" not in str(info.value) and "G2/x.png" in str(info.value)
    empty = [Sample(np.zeros((16, 16, 3), np.uint8), Provenance("a/x"), mask=np.zeros((16, 16), np.uint8))]
    with pytest.raises(DataError, match="found no lesion"):
        fitted(empty)


def test_generate_needs_recipient_samples_with_masks(trained):
    _, gen = trained
    with pytest.raises(UsageError, match="recipient Samples with masks"):
        gen.generate(1, seed=0, conditions=[np.zeros((64, 64), np.uint8)])
    with pytest.raises(UsageError, match="recipient Samples with masks"):
        gen.generate(1, seed=0)


def test_cli_refuses_a_dataset_without_masks_in_one_line(tmp_dataset, tmp_path):
    from click.testing import CliRunner

    from augkit.cli import cli

    rng = np.random.default_rng(0)
    src = tmp_dataset({f"{c}/img{i}.png": rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)
                       for c in ("G2", "G3") for i in range(2)})
    result = CliRunner().invoke(cli, ["expand", "--in", str(src), "--to", "8", "--out",
                                      str(tmp_path / "out"), "--generator", "lesiongan", "--quiet"])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "has no mask" in lines[0], result.output

"""lesionmix (lesion transplant): exact masks, the lesion inside the recipient's brain,
determinism by (seed, index), multi-channel BraTS slices with labels 0/1/2/4 kept, and the
refusal of data without lesion masks."""

from __future__ import annotations

import numpy as np
import pytest

from augkit.expand.manifest import read_manifest
from augkit.expand.run import expand
from augkit.errors import DataError, UsageError
from augkit.io import read_dataset
from augkit.registry.host import get_generator
from augkit.sample import Provenance, Sample
from augkit.seeding import rng_for
from augkit.transforms.anatomy import brain_mask
from augkit_lesionmix.carve import fits, valid_centres


def head_slice(seed: int, size=64, channels=3, labels=(255,), dtype=np.uint8) -> Sample:
    """A bright disc (the head) on black with a textured inside and one lesion blob."""
    rng = rng_for(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    head = (yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (0.42 * size) ** 2
    image = np.zeros((size, size, channels), np.float32)
    image[head] = 80 + rng.uniform(0, 30, (int(head.sum()), channels))
    mask = np.zeros((size, size), np.uint8)
    cy, cx = size // 2 + int(rng.integers(-6, 7)), size // 2 + int(rng.integers(-6, 7))
    for k, label in enumerate(labels):  # nested rings: BraTS-like 2 (outer), 1, 4 (inner)
        r = 7 - 2 * k
        blob = (yy - cy) ** 2 + (xx - cx) ** 2 < r * r
        mask[blob] = label
        image[blob] = 160 + 30 * k
    return Sample(image.astype(dtype), Provenance(f"case{seed}/slice{seed}"), mask=mask)


def fitted(samples, **settings):
    gen = get_generator("lesionmix")(**settings)
    gen.fit(samples, seed=0, progress=False)
    return gen


def check_transplant(recipient: Sample, made: Sample, gen) -> None:
    """Labels come only from the recipient and the donor; the recipient's labelled pixels are
    untouched; the new lesion is inside the recipient's brain; the image changes only there."""
    params = made.provenance.params
    assert params["placed"], params
    donor = next(d for d in gen.donors if d.donor_id == params["donor_id"])
    changed = made.mask != recipient.mask
    assert changed.any()
    assert (recipient.mask[changed] == 0).all()  # nothing written over the recipient's lesion
    assert set(np.unique(made.mask[changed])) <= set(np.unique(donor.labels[donor.labels > 0]))
    assert np.array_equal(made.mask[~changed], recipient.mask[~changed])
    side = max(recipient.image.shape[:2])
    brain = brain_mask(recipient.image, gen.settings.brain_inset * side)
    assert brain[changed].all()  # the lesion lies inside the recipient's brain
    touched = np.any(made.image != recipient.image, axis=-1)
    assert not touched[recipient.mask > 0].any()  # the recipient's own lesion is left as it was
    assert brain[touched].all()  # blending stays inside the brain too


@pytest.mark.parametrize("blend", ["alpha", "poisson"])
def test_masks_are_exact_and_the_lesion_lies_inside_the_recipient_brain(blend):
    samples = [head_slice(i) for i in range(4)]
    gen = fitted(samples, blend=blend)
    for i, made in enumerate(gen.generate(6, seed=3, conditions=samples)):
        check_transplant(samples[i % 4], made, gen)
        assert made.provenance.params["donor_id"] != samples[i % 4].id  # never its own lesion
        assert made.image.dtype == np.uint8 and made.image.shape == samples[0].image.shape


def test_poisson_blend_changes_the_pasted_tissue_and_nothing_else():
    samples = [head_slice(i, size=96) for i in range(4)]
    soft, seamless = fitted(samples), fitted(samples, blend="poisson")
    pairs = zip(soft.generate(4, seed=3, conditions=samples), seamless.generate(4, seed=3, conditions=samples),
                samples)
    differs = 0
    for x, y, recipient in pairs:
        assert x.provenance.params["centre"] == y.provenance.params["centre"]  # same draws
        assert np.array_equal(x.mask, y.mask)
        changed = np.any(x.image != y.image, axis=-1)
        moved = np.any(x.image != recipient.image, axis=-1) | np.any(y.image != recipient.image, axis=-1)
        assert not (changed & ~moved).any()
        differs += int(changed.any())
    assert differs >= 3


def test_same_seed_same_bytes_whatever_the_batch_size():
    samples = [head_slice(i) for i in range(3)]
    gen = fitted(samples)
    a = list(gen.generate(4, seed=9, conditions=samples, batch_size=1))
    b = list(gen.generate(4, seed=9, conditions=samples, batch_size=16))
    c = list(fitted(samples).generate(4, seed=10, conditions=samples))
    for x, y in zip(a, b):
        assert np.array_equal(x.image, y.image) and np.array_equal(x.mask, y.mask)
        assert x.provenance.params == y.provenance.params
    assert any(not np.array_equal(x.image, z.image) for x, z in zip(a, c))


def test_brats_like_four_channel_int16_keeps_labels_0_1_2_4():
    samples = [head_slice(i, channels=4, labels=(2, 1, 4), dtype=np.int16) for i in range(3)]
    gen = fitted(samples)
    for i, made in enumerate(gen.generate(4, seed=1, conditions=samples)):
        recipient = samples[i % 3]
        assert made.image.dtype == np.int16 and made.image.shape[-1] == 4
        check_transplant(recipient, made, gen)
        new = made.mask != recipient.mask
        assert set(np.unique(made.mask[new])) == {1, 2, 4}
        # every channel moved together: all four change on the same pixels
        diff = made.image != recipient.image
        assert (diff.any(-1) == diff.all(-1)).mean() > 0.95


def test_real_brats_slices(shared_data, tmp_path):
    case = "Brats18_2013_3_1"
    (tmp_path / "brats" / case).mkdir(parents=True)
    for f in (shared_data / "brats" / case).iterdir():
        (tmp_path / "brats" / case / f.name).symlink_to(f)
    data = read_dataset(tmp_path / "brats", unit="slice")
    reals = data.samples[::6][:8]
    gen = fitted(reals)
    placed = 0
    for i, made in enumerate(gen.generate(8, seed=2, conditions=reals)):
        if made.provenance.params["placed"]:
            check_transplant(reals[i], made, gen)
            placed += 1
        assert set(np.unique(made.mask)) <= {0, 1, 2, 4}
        assert made.image.dtype == reals[0].image.dtype and made.image.shape == reals[0].image.shape
    assert placed >= 4


def test_expand_lgg_records_donor_placement_and_blend(shared_data, tmp_path):
    src = shared_data / "lgg" / "train30"
    gen = fitted(read_dataset(src).samples)
    out = tmp_path / "out"
    expand(src, 40, out, seed=4, generator=gen, gan_fraction=1.0, progress=False)
    rows = [r for r in read_manifest(out / "manifest.csv") if r["source"] == "gan"]
    assert len(rows) == 10
    import json

    params = json.loads(rows[0]["params"])
    assert "transforms" in params  # the recipient is the parent's classical variant
    mix = params["lesionmix"]
    assert {"donor_id", "donor_centre", "centre", "blend", "margin_px", "feather_px", "rotation",
            "scale", "gain", "placed"} <= set(mix)
    assert mix["donor_id"] != rows[0]["parent_id"]
    # the index seed decides every sample: the same index of a longer run is the same file
    out2 = tmp_path / "out2"
    expand(src, 42, out2, seed=4, generator=gen, gan_fraction=1.0, progress=False)
    first = out / rows[0]["files"].split(";")[0]
    assert first.read_bytes() == (out2 / rows[0]["files"].split(";")[0]).read_bytes()
    for r in rows:
        mask_file = out / r["files"].split(";")[1]
        import tifffile

        assert set(np.unique(tifffile.imread(mask_file))) <= {0, 255}


def test_refuses_data_without_lesion_masks():
    unmasked = [Sample(np.zeros((16, 16, 3), np.uint8), Provenance("a/x"), label="G2")]
    with pytest.raises(DataError, match="has no mask"):
        fitted(unmasked)
    empty = [Sample(np.zeros((16, 16, 3), np.uint8), Provenance("a/x"), mask=np.zeros((16, 16), np.uint8))]
    with pytest.raises(DataError, match="found no lesion"):
        fitted(empty)
    gen = fitted([head_slice(0), head_slice(1)])
    with pytest.raises(UsageError, match="recipient Samples with masks"):
        next(iter(gen.generate(1, seed=0, conditions=[np.zeros((64, 64), np.uint8)])))


def test_no_room_keeps_the_recipient_and_says_so():
    samples = [head_slice(i) for i in range(2)]
    gen = fitted(samples, scale_range=(6.0, 6.0), max_tries=2)  # a lesion too big for any brain
    made = next(iter(gen.generate(1, seed=0, conditions=samples[:1])))
    assert made.provenance.params["placed"] is False
    assert np.array_equal(made.image, samples[0].image) and np.array_equal(made.mask, samples[0].mask)


def test_several_lesions_each_placed_apart_with_exact_labels():
    """max_lesions=3: 1-3 lesions a sample, each one a transplant into the result of the one
    before (so labels stay exact and each keeps the gap to those already placed); the first
    lesion's draws are those of a one-lesion run after the count."""
    from scipy import ndimage

    samples = [head_slice(i, size=96) for i in range(4)]
    gen = fitted(samples, max_lesions=3, scale_range=(0.6, 0.8), gap=0.05)
    gap_px = gen.settings.gap * 96
    counts = []
    for i, made in enumerate(gen.generate(12, seed=5, conditions=samples)):
        params, recipient = made.provenance.params, samples[i % 4]
        placed = params["lesions_placed"]
        assert placed == 1 + len(params["more_lesions"]) and placed <= params["lesions_wanted"] <= 3
        check_transplant(recipient, made, gen)  # every added label from a donor, none over the recipient's
        new = (made.mask > 0) & (recipient.mask == 0)
        components, num = ndimage.label(new)
        assert num == placed  # one component per placed lesion (a head_slice donor has one)
        # every lesion keeps the gap to the recipient's own and to every other placed lesion
        near_own = ndimage.distance_transform_edt(recipient.mask == 0) <= gap_px
        assert not (new & near_own).any()
        for k in range(1, num + 1):
            near = ndimage.distance_transform_edt(components != k) <= gap_px
            assert not (near & new & (components != k)).any()
        # the first lesion is the one-lesion transplant drawn after the count
        rng = rng_for(5, i)
        assert int(rng.integers(1, 4)) == params["lesions_wanted"]
        first = gen._transplant_one(recipient, rng)[2]
        assert first == {k: v for k, v in params.items()
                         if k not in ("lesions_wanted", "lesions_placed", "more_lesions")}
        counts.append(placed)
    assert max(counts) > 1 and min(counts) == 1  # the count varies: one, and more than one
    for bad in (0, 2.5):
        with pytest.raises(UsageError, match="max_lesions whole numbers >= 1"):
            fitted(samples, max_lesions=bad)


def test_valid_centres_agrees_with_the_exact_check():
    rng = np.random.default_rng(0)
    allowed = rng.random((40, 50)) > 0.05
    support = np.zeros((7, 5), bool)
    support[1:6, 1:4] = True
    ok = valid_centres(support, allowed)
    for y in range(40):
        for x in range(50):
            assert ok[y, x] == fits(support, allowed, (y, x))


def test_cli_refuses_a_dataset_without_masks_in_one_line(tmp_dataset, tmp_path):
    from click.testing import CliRunner

    from augkit.cli import cli

    rng = np.random.default_rng(0)
    src = tmp_dataset({f"{c}/img{i}.png": rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)
                       for c in ("G2", "G3") for i in range(2)})
    result = CliRunner().invoke(cli, ["expand", "--in", str(src), "--to", "8", "--out",
                                      str(tmp_path / "out"), "--generator", "lesionmix", "--quiet"])
    assert result.exit_code == 2, result.output
    assert "lesionmix transplants lesions between labelled slices" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "out").exists()


def test_cli_train_then_expand_with_the_saved_lesions(tmp_dataset, tmp_path):
    from click.testing import CliRunner

    from augkit.cli import cli

    files = {}
    for i in range(3):
        s = head_slice(i)
        files[f"p{i}/s{i}.png"] = s.image
        files[f"p{i}/s{i}_mask.png"] = s.mask
    src = tmp_dataset(files)
    run = CliRunner().invoke
    r = run(cli, ["train", "--in", str(src), "--generator", "lesionmix", "--out", str(tmp_path / "m"),
                  "--set", "blend=poisson", "--quiet"])
    assert r.exit_code == 0, r.output
    r = run(cli, ["expand", "--in", str(src), "--to", "9", "--out", str(tmp_path / "out"), "--generator",
                  "lesionmix", "--model", str(tmp_path / "m"), "--gan-fraction", "1", "--quiet"])
    assert r.exit_code == 0, r.output
    rows = [x for x in read_manifest(tmp_path / "out" / "manifest.csv") if x["source"] == "gan"]
    import json

    assert len(rows) == 6 and all(json.loads(x["params"])["lesionmix"]["blend"] == "poisson" for x in rows)

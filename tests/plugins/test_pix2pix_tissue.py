"""pix2pix conditioned on a tissue label map (``label_map="tissue"``): head + k-means tissue
classes + lesion, built from a real slice. Tiny profile, a few steps."""

from __future__ import annotations

import json

import numpy as np
import pytest

from augkit.errors import UsageError
from augkit.sample import Provenance, Sample
from augkit.seeding import rng_for
from augkit_pix2pix.generator import Pix2Pix
from augkit_pix2pix.tissue import fit_tissue_centres, tissue_label_map


def head(seed: int, size: int = 32, channels: int = 3, dtype=np.uint8) -> Sample:
    """A head on black: a dark outer ring (skull/CSF, 60), a bright core (140) and a lesion blob
    (230) at a seeded place; a little noise so k-means has something to average."""
    rng = rng_for(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    r2 = (yy - size / 2) ** 2 + (xx - size / 2) ** 2
    image = np.zeros((size, size, channels), np.float32)
    image[r2 < (0.45 * size) ** 2] = 60
    image[r2 < (0.30 * size) ** 2] = 140
    cy, cx = size // 2 + int(rng.integers(-3, 4)), size // 2 + int(rng.integers(-3, 4))
    lesion = (yy - cy) ** 2 + (xx - cx) ** 2 < 9
    image[lesion] = 230
    inside = r2 < (0.45 * size) ** 2
    image[inside] += rng.normal(0, 3, (int(inside.sum()), channels))
    mask = np.where(lesion, 255, 0).astype(np.uint8)
    return Sample(np.clip(image, 0, 255).astype(dtype), Provenance(f"case{seed}/s{seed}"), mask=mask)


def head_folder(tmp_dataset, num: int = 3):
    """``num`` heads written as an image/mask folder, one patient each."""
    files = {}
    for i in range(num):
        s = head(i)
        files[f"p{i}/s{i}.png"] = s.image
        files[f"p{i}/s{i}_mask.png"] = s.mask
    return tmp_dataset(files)


def test_centres_and_label_map_name_head_tissues_and_lesion():
    samples = [head(i) for i in range(3)]
    unit = [s.image.astype(np.float32) / 127.5 - 1 for s in samples]
    centres = fit_tissue_centres(unit, [s.mask for s in samples], background=0, k=2, seed=0)
    # the two tissue levels (60 and 140 → -0.53 and +0.10 in [-1, 1]), darkest first
    assert np.allclose(np.mean(centres, axis=1), [60 / 127.5 - 1, 140 / 127.5 - 1], atol=0.05)
    s = samples[0]
    classes = tissue_label_map(unit[0], s.mask, np.asarray(centres), (0, 255))
    assert classes[0, 0] == 0 and classes[16 + 13, 16] == 1  # outside the head; the dark ring
    assert set(np.unique(classes[s.mask == 255])) == {3}  # the lesion wins over tissue
    core = (classes == 2).sum()
    assert core > 0.5 * np.pi * (0.30 * 32) ** 2 - (s.mask == 255).sum()


def test_tiny_tissue_model_fits_generates_saves_and_refuses_bare_masks(tmp_path):
    train = [head(i) for i in range(4)]
    model = Pix2Pix("tiny", seed=1, label_map="tissue", tissue_classes=2)
    history = model.fit(train, val_samples=[head(9)], epochs=2, seed=0, progress=False)
    assert all(np.isfinite(v).all() for v in history.values())
    assert model.condition == "sample" and Pix2Pix("tiny").condition == "mask"
    assert model.spec.num_classes == 1 + 2 + 1 and len(model.spec.tissue_centres) == 2

    # the condition comes from the image: one mask, the head moved → another map
    other = train[0].derive(image=np.roll(train[0].image, 6, axis=1), provenance=train[0].provenance)
    a = model.spec.condition(train[0].image, train[0].mask, 16)
    b = model.spec.condition(other.image, other.mask, 16)
    assert a.shape == (16, 16, 4) and not np.array_equal(a, b)

    made = list(model.generate(3, seed=5, conditions=train[:3]))
    for s, parent in zip(made, train):
        assert s.image.shape == parent.image.shape and s.image.dtype == np.uint8
        assert np.array_equal(s.mask, parent.mask) and s.provenance.parent_id == parent.id
    with pytest.raises(UsageError, match="label_map='tissue'"):
        model.generate(1, seed=0, conditions=[train[0].mask])
    with pytest.raises(UsageError, match="1-channel"):
        one = train[0].derive(image=train[0].image[..., :1], provenance=train[0].provenance)
        model.generate(1, seed=0, conditions=[one])

    model.save(tmp_path / "m")
    saved = json.loads((tmp_path / "m" / "config.json").read_text())
    assert saved["config"]["label_map"] == "tissue" and len(saved["data"]["tissue_centres"]) == 2
    again = Pix2Pix.load(tmp_path / "m")
    assert again.condition == "sample"
    for x, y in zip(made, again.generate(3, seed=5, conditions=train[:3])):
        assert np.array_equal(x.image, y.image)


def test_scanner_units_are_scaled_per_slice_whatever_each_case_scale(tmp_path):
    """int16 MRI with one case 40x brighter than the others (as BraTS train): each slice is
    scaled by its own range, so the same anatomy gives the same tissue map at either scale (one
    range for all put the dim cases' head in one class), and a generated slice comes back in
    its parent's units; bare-mask images take a typical slice's range. uint8 keeps one range."""
    dim = [head(i, dtype=np.int16) for i in range(3)]
    bright = dim[0].derive(image=(dim[0].image.astype(np.int32) * 40).astype(np.int16),
                           provenance=Provenance("bright/s0"))
    model = Pix2Pix("tiny", seed=1, label_map="tissue", tissue_classes=2)
    model.fit(dim + [bright], epochs=1, seed=0, progress=False)
    assert model.spec.per_image
    a = model.spec.condition(dim[0].image, dim[0].mask, 16)
    b = model.spec.condition(bright.image, bright.mask, 16)
    assert np.array_equal(a, b)
    assert len(np.unique(np.argmax(a, -1)[np.argmax(a, -1) > 0])) == 3  # two tissues and the lesion
    made_dim, made_bright = model.generate(2, seed=3, conditions=[dim[1], bright])
    assert made_dim.image.max() <= 2 * dim[1].image.max() < made_bright.image.max()
    model.save(tmp_path / "m")
    assert Pix2Pix.load(tmp_path / "m").spec.per_image
    plain = Pix2Pix("tiny", label_map="tissue", tissue_classes=2)
    plain.fit([head(i) for i in range(3)], epochs=1, progress=False)
    assert not plain.spec.per_image and "per_image" not in plain.spec.to_dict()


def test_label_map_setting_is_checked():
    with pytest.raises(UsageError, match="label_map must be one of mask, tissue"):
        Pix2Pix("tiny", label_map="tissues")


def spy_generate(model, calls: list):
    """Wrap ``model.generate`` to record each call's conditions and the samples it returned."""
    real = model.generate

    def generate(n, seed=None, conditions=None, **kwargs):
        made = list(real(n, seed=seed, conditions=conditions, **kwargs))
        calls.append((list(conditions or []), made))
        return made

    model.generate = generate


def test_expand_paints_classical_variants_with_their_own_masks(tmp_dataset, tmp_path):
    """Through ``expand`` the tissue model edits each index's classical variant (condition
    "sample"): the mask is the variant's, the image the GAN's; ``--gan-region lesion`` is refused."""
    from augkit.expand.run import expand
    from augkit.io import read_dataset
    from augkit.expand.manifest import read_manifest
    from augkit.transforms.pipeline import ClassicalPipeline

    src = head_folder(tmp_dataset)
    reals = {s.id: s for s in read_dataset(src).samples}
    model = Pix2Pix("tiny", seed=1, label_map="tissue", tissue_classes=2)
    model.fit(list(reals.values()), epochs=1, progress=False)
    calls: list = []
    spy_generate(model, calls)
    expand(src, 9, tmp_path / "out", seed=2, generator=model, gan_fraction=1.0, progress=False)
    rows = [r for r in read_manifest(tmp_path / "out" / "manifest.csv") if r["source"] == "gan"]
    assert len(rows) == 6 and len(calls) == 6
    assert "transforms" in json.loads(rows[0]["params"])  # the classical variant was the condition
    made = {s.id: s for s in read_dataset(tmp_path / "out").samples}
    asked = {cond[0].id: (cond[0], out[0]) for cond, out in calls}
    for r in rows:
        written, parent = made[r["id"]], reals[r["parent_id"]]
        condition, painted = asked[r["id"]]
        # the condition is the parent's classical variant for this index (same seed, same bytes)
        variant = ClassicalPipeline()(parent, seed=int(r["seed"]), new_id=r["id"])
        assert np.array_equal(condition.image, variant.image) and np.array_equal(condition.mask, variant.mask)
        # the mask written is the variant's (moved, not the parent's) ...
        assert np.array_equal(written.mask, variant.mask) and not np.array_equal(written.mask, parent.mask)
        # ... and the image the GAN's: what it painted, not the variant it was given
        assert np.array_equal(written.image, painted.image)
        assert not np.array_equal(written.image, variant.image)
    with pytest.raises(UsageError, match="gan-region"):
        expand(src, 9, tmp_path / "out2", seed=2, generator=model, gan_fraction=1.0, progress=False,
               gan_region="lesion")


def test_sampler_source_hands_the_moved_real_sample_to_a_sample_conditioned_generator():
    """In a live GeneratorSource the tissue model gets the real sample moved by the geometric
    transforms (image and mask together), not a bare mask it would refuse; what comes out is
    that moved mask with the image the GAN painted."""
    from augkit.seeding import derive_seed
    from augkit.sampling.sources import _GENERATOR_STREAM, GeneratorSource
    from augkit.transforms.pipeline import ClassicalPipeline

    train = [head(i) for i in range(4)]
    by_id = {t.id: t for t in train}
    model = Pix2Pix("tiny", seed=1, label_map="tissue", tissue_classes=2)
    model.fit(train, epochs=1, progress=False)
    calls: list = []
    spy_generate(model, calls)
    moves = ClassicalPipeline()
    source = GeneratorSource(model, train, pool_size=4, batch_size=2, seed=3, mask_transforms=moves)
    made = [source.get(i) for i in range(4)]
    conditions = [c for cond, _ in calls for c in cond]
    painted = [p for _, out in calls for p in out]
    assert len(conditions) == 4 and all(isinstance(c, Sample) for c in conditions)
    for i, (sample, condition, image) in enumerate(zip(made, conditions, painted)):
        parent = by_id[sample.provenance.parent_id]
        moved_image, moved_mask, _ = moves.geometric_only().apply(parent.image, parent.mask,
                                                                  derive_seed(3, _GENERATOR_STREAM, 0, i))
        # the generator was handed the parent moved by the geometry (image and mask together) ...
        assert np.array_equal(condition.image, moved_image) and np.array_equal(condition.mask, moved_mask)
        # ... and the sample is that moved real mask with the GAN's image
        assert np.array_equal(sample.mask, moved_mask)
        assert np.array_equal(sample.image, image.image) and not np.array_equal(sample.image, moved_image)
    assert any(not np.array_equal(s.mask, by_id[s.provenance.parent_id].mask) for s in made)  # moved


def test_cli_generate_with_a_tissue_model_paints_moved_real_slices(tmp_dataset, tmp_path):
    """``augkit generate --conditions DIR`` hands a tissue model moved real samples (not bare
    masks, which it refuses): every written mask is a moved real mask."""
    from click.testing import CliRunner

    from augkit.cli import cli
    from augkit.io import read_dataset

    src = head_folder(tmp_dataset)
    model = Pix2Pix("tiny", seed=1, label_map="tissue", tissue_classes=2)
    model.fit(read_dataset(src).samples, epochs=1, progress=False)
    model.save(tmp_path / "m")
    r = CliRunner().invoke(cli, ["generate", "--model", str(tmp_path / "m"), "--n", "5", "--conditions", str(src),
                                 "--out", str(tmp_path / "gen"), "--quiet"])
    assert r.exit_code == 0, r.output
    made = read_dataset(tmp_path / "gen" / "shard-00000").samples
    assert len(made) == 5
    assert all(s.mask.shape == (32, 32) and set(np.unique(s.mask)) <= {0, 255} and (s.mask == 255).any()
               for s in made)

"""``lesionmix`` on whole NIfTI cases: a lesion carved in 3D from a donor case, placed inside the
recipient case's 3D brain, feather-blended; labels exact, the rest of the case untouched."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from scipy import ndimage

from augkit.cli import cli
from augkit.expand.manifest import read_manifest
from augkit.expand.run import expand
from augkit.errors import UsageError
from augkit.io import read_dataset
from augkit.transforms.volume import VolumePipeline
from augkit.transforms.anatomy import brain_mask
from augkit_lesionmix.generator import LesionMix

_spec = importlib.util.spec_from_file_location(
    "_volume_cases", Path(__file__).parents[1] / "io" / "test_volumes.py")
_volume_cases = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_volume_cases)
brats = _volume_cases._brats  # the tiny BraTS case writer of the reader's tests

# small jitter so a 6×6×4 lesion fits beside the recipient's own in a 32×32×16 head
SETTINGS = dict(rotation_range=(-20.0, 20.0), scale_range=(0.6, 0.8), margin_range=(0.0, 0.02),
                feather_range=(0.02, 0.03), case_brain_inset=0.03, max_tries=16)


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    return brats(tmp_path_factory.mktemp("in"))


def _fitted(cases):
    gen = LesionMix(**SETTINGS)
    gen.fit(read_dataset(cases).samples)
    return gen


def _transplant(cases, seed):
    """Case c1's classical variant and lesionmix's transplant into it (what expand does)."""
    dataset = read_dataset(cases)
    parent = dataset.samples[0]
    variant = VolumePipeline()(parent, seed=seed, new_id="c1_new")
    made = next(iter(_fitted(cases).generate(1, seed=seed, conditions=[variant])))
    return parent, variant, made


@pytest.mark.parametrize("seed", [0, 3])
def test_the_lesion_goes_inside_the_brain_and_nothing_else_changes(cases, seed):
    parent, variant, made = _transplant(cases, seed)
    params = made.provenance.params
    assert params["placed"] and params["donor_id"].endswith("c2") and params["blend"] == "alpha"
    assert made.image.shape == parent.image.shape and made.image.dtype == np.int16
    assert made.mask.shape == parent.mask.shape and made.mask.dtype == parent.mask.dtype
    assert set(np.unique(made.mask)) <= {0, 1, 2, 4}
    new = (made.mask != variant.mask)
    assert new.any() and (made.mask[new] > 0).all()  # labels only added, from the donor
    assert not (variant.mask[new] > 0).any()  # the recipient's own lesion is never overwritten
    brain = brain_mask(variant.image, 0.0, volume=True)
    assert brain[new].all()  # the new lesion lies inside the recipient's 3D brain
    changed = (made.image != variant.image).any(axis=-1)
    assert changed.any()
    # outside the blended region (the new lesion grown by margin + feather) nothing moved
    near = ndimage.distance_transform_edt(~new) <= params["margin_px"] + max(params["feather_px"], 1.0) + 1
    assert not changed[~near].any()
    assert (made.mask[~new] == variant.mask[~new]).all()


def test_same_seed_same_bytes(cases):
    a, b = _transplant(cases, 5)[2], _transplant(cases, 5)[2]
    assert a.image.tobytes() == b.image.tobytes() and a.mask.tobytes() == b.mask.tobytes()
    assert a.provenance.params == b.provenance.params


def test_expand_2_to_4_cases_records_donor_placement_and_blend(cases, tmp_path):
    out = tmp_path / "out"
    expand(cases, 4, out, seed=1, generator=_fitted(cases), gan_fraction=1.0, progress=False)
    rows = [r for r in read_manifest(out / "manifest.csv") if r["source"] == "gan"]
    assert len(rows) == 2 and {r["generator"] for r in rows} == {"lesionmix"}
    reals = {s.id: s for s in read_dataset(cases).samples}
    written = {s.id: s for s in read_dataset(out).samples}
    for row in rows:
        made = json.loads(row["params"])["lesionmix"]
        assert made["placed"] and made["blend"] == "alpha" and made["donor_id"] != row["parent_id"]
        assert len(made["centre"]) == 3 and made["lesion_voxels"] > 0
        case = written[row["id"]]
        assert case.image.shape == (32, 32, 16, 4) and case.image.dtype == np.int16
        allowed = {0} | set(np.unique(reals[row["parent_id"]].mask)) | set(np.unique(reals[made["donor_id"]].mask))
        assert set(np.unique(case.mask)) <= allowed <= {0, 1, 2, 4}
        assert (case.mask > 0).sum() > (reals[row["parent_id"]].mask > 0).sum()  # a second lesion
    again = tmp_path / "again"
    expand(cases, 4, again, seed=1, generator=_fitted(cases), gan_fraction=1.0, progress=False)
    digest = _volume_cases._digest
    assert {k: v for k, v in digest(out).items() if k.endswith(".nii.gz")} == \
        {k: v for k, v in digest(again).items() if k.endswith(".nii.gz")}


def test_cli_expand_cases_with_lesionmix_writes_the_brats_layout(cases, tmp_path):
    out = tmp_path / "out"
    res = CliRunner().invoke(cli, ["expand", "--in", str(cases), "--to", "4", "--out", str(out),
                                   "--generator", "lesionmix", "--seed", "2"])
    assert res.exit_code == 0, res.output
    new = [p for p in out.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name not in ("c1", "c2")]
    assert new
    for case in new:
        names = {p.name for p in case.iterdir()}
        assert {f"{case.name}_{k}.nii.gz" for k in ("flair", "t1", "t1ce", "t2", "seg")} <= names
    rows = [r for r in read_manifest(out / "manifest.csv") if r["source"] == "gan"]
    assert rows and all(json.loads(r["params"])["lesionmix"]["placed"] for r in rows)


def test_poisson_is_refused_on_cases_in_one_line(cases):
    with pytest.raises(UsageError, match="2D only"):
        LesionMix(blend="poisson").fit(read_dataset(cases).samples)


def test_other_generators_and_saved_models_are_refused_on_cases(cases, tmp_path):
    from augkit.api import expand_folder

    with pytest.raises(UsageError, match="--unit slice"):
        expand_folder(cases, 4, tmp_path / "a", generator="pix2pix", progress=False)
    with pytest.raises(UsageError, match="leave out --model"):
        expand_folder(cases, 4, tmp_path / "b", generator="lesionmix", model_dir=tmp_path, progress=False)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_two_lesions_a_case_keep_labels_exact_and_the_recipient_lesion_untouched(cases):
    """max_lesions on whole cases: a second 3D lesion goes into the case that holds the first."""
    dataset = read_dataset(cases)
    gen = LesionMix(**SETTINGS, max_lesions=2)
    gen.fit(dataset.samples)
    variant = VolumePipeline()(dataset.samples[0], seed=1, new_id="c1_new")
    placed = []
    for made in gen.generate(6, seed=2, conditions=[variant]):
        params = made.provenance.params
        placed.append(params["lesions_placed"])
        assert params["lesions_placed"] == 1 + len(params["more_lesions"]) <= params["lesions_wanted"]
        new = made.mask != variant.mask
        assert (made.mask[new] > 0).all() and not (variant.mask[new] > 0).any()
        assert set(np.unique(made.mask)) <= {0, 1, 2, 4}
        json.dumps(params)  # the manifest writes them
    assert max(placed) == 2

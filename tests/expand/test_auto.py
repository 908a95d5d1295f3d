"""``--generator auto``, the command line's default: lesion transplant on 2D sets whose masks mark
a lesion, classical transforms on everything else — and the choice said in one line."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from click.testing import CliRunner

from augkit.cli import cli
from augkit.errors import UsageError
from augkit.expand.options import ExpandOptions


def _sources(out) -> dict[str, int]:
    counts: dict[str, int] = {}
    with (out / "manifest.csv").open() as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        key = row["source"] + (f":{row['generator']}" if row["generator"] else "")
        counts[key] = counts.get(key, 0) + 1
    return counts


def _expand(args):
    result = CliRunner().invoke(cli, ["expand", *map(str, args), "--quiet"])
    assert result.exit_code == 0, result.output
    return result.output


def test_default_on_lesion_masks_is_lesion_transplant_at_half(shared_data, tmp_path):
    out = tmp_path / "lgg-out"
    said = _expand(["--in", shared_data / "lgg/train30", "--to", 50, "--out", out])
    assert "generator auto" in said and "lesionmix" in said
    # 20 new indices, half of them transplants (the share chosen on LGG validation)
    assert _sources(out) == {"real": 30, "classical": 10, "gan:lesionmix": 10}


def test_default_output_is_the_named_generator_output(shared_data, tmp_path):
    """auto is a name for a choice, not a different run: same bytes as naming lesionmix."""
    _expand(["--in", shared_data / "lgg/train30", "--to", 36, "--out", tmp_path / "a", "--seed", 4])
    _expand(["--in", shared_data / "lgg/train30", "--to", 36, "--out", tmp_path / "b", "--seed", 4,
             "--generator", "lesionmix"])
    for path in sorted((tmp_path / "a").rglob("*.tif")):
        assert path.read_bytes() == (tmp_path / "b" / path.relative_to(tmp_path / "a")).read_bytes(), path


def test_python_names_auto_itself(shared_data, tmp_path):
    """From Python nothing is chosen for you (ExpandOptions' default is classical); "auto" asks."""
    from augkit.api import expand_folder

    plain = expand_folder(shared_data / "lgg/train30", 34, tmp_path / "plain", progress=False)
    asked = expand_folder(shared_data / "lgg/train30", 34, tmp_path / "auto", progress=False, generator="auto")
    assert plain.counts == {"real": 30, "classical": 4} and plain.generator_note == ""
    assert asked.counts == {"real": 30, "classical": 2, "gan": 2} and "lesionmix" in asked.generator_note


def test_none_still_gives_classical_only(shared_data, tmp_path):
    out = tmp_path / "out"
    said = _expand(["--in", shared_data / "lgg/train30", "--to", 40, "--out", out, "--generator", "none"])
    assert "generator auto" not in said
    assert _sources(out) == {"real": 30, "classical": 10}


def test_labels_that_fill_the_image_are_not_lesions(shared_data, tmp_path):
    """ISBI membranes: the labelled cells cover ~78 % of each image; moving them is no lesion transplant."""
    out = tmp_path / "out"
    said = _expand(["--in", shared_data / "membrane", "--to", 34, "--out", out])
    assert "a structure, not a lesion" in said
    assert _sources(out) == {"real": 30, "classical": 4}


def test_whole_cases_stay_classical(shared_data, tmp_path):
    out = tmp_path / "out"
    said = _expand(["--in", shared_data / "brats", "--to", 5, "--out", out])
    assert "whole 3D cases" in said
    assert set(_sources(out)) == {"real", "classical"}


def test_class_folders_stay_classical(tmp_dataset, tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_dataset({f"{c}/{c}_{i}.png": rng.integers(0, 255, (16, 16), dtype=np.uint8)
                          for c in ("normal", "pneumonia") for i in range(3)})
    out = tmp_path / "out"
    said = _expand(["--in", folder, "--to", 10, "--out", out])
    assert "no segmentation masks" in said
    assert set(_sources(out)) == {"real", "classical"}


def test_auto_with_a_model_folder_is_refused(tmp_path):
    with pytest.raises(UsageError, match="--model needs --generator NAME"):
        ExpandOptions(target=10, generator="auto", model_dir=tmp_path)

"""The tabimage benchmark's before / after table, built from two runs' JSON files."""

import json

import pytest

from augkit_tabimage.reports import auc_text, before_after, before_after_md


def write_run(folder, *, near, tstr, image_row, dropped=0, checkpoint="abc"):
    folder.mkdir()
    run = {"checkpoint_hash": checkpoint, "overrides": {"row_noise": 0.3}, "epochs_trained": 5,
           "privacy": {"share_near_copies": near, "share_exact_copies": 0.0, "dcr_median": 1.5},
           "drop_near_copies": bool(dropped), "generation": {"samples_written": 100 - dropped, "near_copies_dropped": dropped},
           "utility": {"grade": {"tstr": {"auc": tstr}, "trtr": {"auc": 0.76}}}}
    (folder / "lgg_run.json").write_text(json.dumps(run))
    (folder / "agreement.json").write_text(json.dumps({"checkpoint_hash": "abc", "synthetic": {"auc": image_row},
                                                       "real_test": {"auc": 0.6}}))


def test_before_after_rows_and_table(tmp_path):
    write_run(tmp_path / "b", near=0.705, tstr=0.72, image_row=0.52)
    write_run(tmp_path / "a", near=0.0, tstr=None, image_row=0.45, dropped=30)
    rows = before_after(tmp_path / "b", tmp_path / "a", "grade", tmp_path)
    assert rows["after"]["generated"] == 100 and rows["after"]["kept"] == 70
    md = before_after_md(rows, "python x compare")
    assert "| before (`b`) |" in md and "70.5%" in md and "| 0.72 |" in md
    assert "70 / 100 (--drop-near-copies)" in md and "| – |" in md  # a missing AUC is a dash
    assert auc_text(0.456) == "0.46"


def test_an_agreement_of_another_model_is_refused(tmp_path):
    write_run(tmp_path / "b", near=0.1, tstr=0.7, image_row=0.5, checkpoint="other")
    write_run(tmp_path / "a", near=0.1, tstr=0.7, image_row=0.5)
    with pytest.raises(AssertionError, match="agreement of another model"):
        before_after(tmp_path / "b", tmp_path / "a", "grade", tmp_path)

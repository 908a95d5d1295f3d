"""``--read-option KEY=VALUE`` on the commands that read a dataset, with the real LGG slices and
the authors' per-patient tables (``../shared/data/lgg/patients_*.csv``)."""

import csv
import json

from click.testing import CliRunner

from augkit.cli import cli

LGG_BY_CASE = ("--format", "tabimage", "--read-option", "id_column=case",
               "--read-option", "id_pattern=^([^/]+)/", "--read-option", "drop_columns=Patient")


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def table_rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def one_line_error(result):
    assert result.exit_code == 2, result.output
    message = result.stderr.strip()
    assert message.startswith("Error: ") and "\n" not in message and "Traceback" not in result.output
    return message


def test_info_joins_every_train30_slice_to_its_patient_row(shared_data):
    lgg = shared_data / "lgg"
    result = run("info", lgg / "train30", *LGG_BY_CASE, "--read-option",
                 f"table={lgg / 'patients_train30.csv'}", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["format"] == "tabimage" and summary["num_samples"] == 30
    assert summary["options"]["table"] == str(lgg / "patients_train30.csv")
    assert summary["options"]["drop_columns"] == ["Patient"]


def test_expand_writes_each_slice_with_its_own_patients_real_row(shared_data, tmp_path):
    lgg = shared_data / "lgg"
    out = tmp_path / "x32"
    result = run("expand", "--in", lgg / "train30", "--to", 32, "--out", out, "--quiet", *LGG_BY_CASE,
                 "--read-option", f"table={lgg / 'patients_train30.csv'}")
    assert result.exit_code == 0, result.output
    patients = {r["case"]: r for r in table_rows(lgg / "patients_train30.csv")}
    written = table_rows(out / "table.csv")
    assert len(written) == 32 and "Patient" not in written[0] and "case" not in written[0]
    # every real slice's row is its patient's row, missing cells still empty (no imputation)
    manifest = {r["id"]: r for r in table_rows(out / "manifest.csv")}
    for row in written:
        entry = next(m for m in manifest.values() if m["files"].endswith(f"/{row['id']}.tif")
                     or m["files"].endswith(f"/{row['id']}.png"))
        case = (entry["parent_id"] or entry["id"]).split("/")[0]
        expected = {k: v for k, v in patients[case].items() if k not in ("case", "Patient")}
        assert {k: row[k] for k in expected} == expected, case  # "" stays "" (missing)
    assert any(row["ethnicity"] == "" for row in written)  # the patient without one is among them


def test_a_patient_missing_from_the_table_is_named_in_one_line(shared_data, tmp_path):
    lgg = shared_data / "lgg"
    lines = (lgg / "patients_train30.csv").read_text().splitlines(keepends=True)
    dropped = lines[7].split(",")[0]  # a real patient row, left out
    table = tmp_path / "patients.csv"
    table.write_text("".join(lines[:7] + lines[8:]))
    result = run("info", lgg / "train30", *LGG_BY_CASE, "--read-option", f"table={table}")
    message = one_line_error(result)
    assert f"1 image id(s) have no row in {table} (column 'case'): '{dropped}'" in message
    assert f"/{dropped}/" in message  # the first image of that patient, by path


def test_table_options_without_the_format_and_bad_pairs_say_what_to_type(shared_data):
    lgg = shared_data / "lgg"
    message = one_line_error(run("info", lgg / "train30", "--read-option",
                                 f"table={lgg / 'patients_train30.csv'}"))
    assert "detected as 'paired2d'" in message and "Fix: add --format tabimage" in message
    message = one_line_error(run("info", lgg / "train30", "--format", "tabimage", "--read-option", "table"))
    assert "--read-option takes KEY=VALUE" in message and "'table'" in message
    message = one_line_error(run("info", lgg / "train30", "--format", "tabimage",
                                 "--read-option", f"table={lgg / 'nope.csv'}"))
    assert "table file does not exist" in message and "--read-option table=PATH" in message
    message = one_line_error(run("info", lgg / "train30", "--format", "tabimage", "--read-option",
                                 f"table={lgg / 'patients_train30.csv'}", "--read-option", "id_column=MRN"))
    assert "no id column 'MRN'" in message and "--read-option id_column=NAME" in message
    message = one_line_error(run("expand", "--in", lgg / "train30", "--to", 40, "--unit", "slice",
                                 "--read-option", "unit=case"))
    assert "give it once" in message


def test_train_reads_the_validation_patients_own_table(shared_data, tmp_path):
    lgg = shared_data / "lgg"
    out = tmp_path / "model"
    result = run("train", "--in", lgg / "train30", "--val", lgg / "val", "--generator", "tabimage",
                 "--profile", "tiny", "--epochs", 1, "--out", out, "--quiet", *LGG_BY_CASE,
                 "--read-option", "channels=1",
                 "--read-option", f"table={lgg / 'patients_train30.csv'}",
                 "--val-read-option", f"table={lgg / 'patients_val.csv'}")
    assert result.exit_code == 0, result.output
    config = json.loads((out / "config.json").read_text())
    assert config["generator"] == "tabimage"
    # without its own table, the validation patients are missing from train30's: named, one line
    message = one_line_error(run("train", "--in", lgg / "train30", "--val", lgg / "val", "--generator",
                                 "tabimage", "--profile", "tiny", "--epochs", 1, "--out", tmp_path / "m2",
                                 "--quiet", *LGG_BY_CASE, "--read-option",
                                 f"table={lgg / 'patients_train30.csv'}"))
    assert "10 image id(s) have no row" in message and "TCGA_CS_5393_19990606" in message


def lgg_table_options(lgg, split):
    return [*LGG_BY_CASE, "--read-option", f"table={lgg / f'patients_{split}.csv'}"]


def test_evaluate_scores_utility_on_the_test_patients_only(shared_data, tmp_path):
    """The table check through the same path as the CLI (images left out to stay fast): the
    baseline trains on train30's patients, both models are tested on the test patients."""
    from augkit.api import evaluate_folders
    from augkit.cli import parse_read_options

    lgg = shared_data / "lgg"
    out = tmp_path / "x40"
    assert run("expand", "--in", lgg / "train30", "--to", 40, "--out", out, "--quiet",
               *lgg_table_options(lgg, "train30")).exit_code == 0
    options = parse_read_options([f"table={lgg / 'patients_train30.csv'}", "id_column=case",
                                  "id_pattern=^([^/]+)/", "drop_columns=Patient"])
    results = evaluate_folders(lgg / "train30", out, tmp_path / "report", target=["neoplasm_histologic_grade",
                               "death01"], test_dir=lgg / "test", format="tabimage", read_options=options,
                               test_read_options={"table": str(lgg / "patients_test.csv")}, table_only=True)
    table = results["table"]
    assert (table["num_real_rows"], table["num_synthetic_rows"]) == (30, 10)  # one row per patient
    for name in ("neoplasm_histologic_grade", "death01"):
        u = table["utility"][name]
        assert (u["num_real_train"], u["num_synthetic_train"], u["num_real_test"]) == (30, 10, 19)
        assert u["rows_without_target"]["test"] == 1  # the test patient without a grade / death01
    assert (tmp_path / "report" / "utility_death01.png").is_file()
    assert table["privacy"]["share_exact_copies"] == 1.0  # classical variants carry their parent's row


def test_evaluate_refuses_a_utility_check_without_unseen_patients(shared_data, tmp_path):
    lgg = shared_data / "lgg"
    message = one_line_error(run("evaluate", "--real", lgg / "train30", "--synthetic", lgg / "val",
                                 "--out", tmp_path / "r", "--target", "death01"))
    assert "--target needs --test DIR" in message
    message = one_line_error(run("evaluate", "--real", lgg / "train30", "--synthetic", lgg / "val",
                                 "--out", tmp_path / "r", "--target", "death01", "--test", lgg / "train30",
                                 *lgg_table_options(lgg, "train30")))
    assert "30 patient(s) are in --real" in message and "TCGA_CS_4943_20000902" in message
    assert not (tmp_path / "r").exists()


def test_generate_drops_rows_that_copy_a_training_patient(shared_data, tmp_path):
    """``generate --drop-near-copies TRAIN_DIR`` with the table's read options: what it kept is no
    near copy of a training patient's row, what it listed in near_copies.csv is, and the two
    add up to --n."""
    from augkit.evaluate.table_privacy import NearestRecord
    from augkit.io import read_dataset
    from augkit.tables.patients import patient_rows

    lgg = shared_data / "lgg"
    options = [*lgg_table_options(lgg, "train30"), "--read-option", "channels=1"]
    assert run("train", "--in", lgg / "train30", "--generator", "tabimage", "--profile", "tiny",
               "--epochs", 1, "--out", tmp_path / "m", "--quiet", *options).exit_code == 0
    result = run("generate", "--model", tmp_path / "m", "--n", 60, "--out", tmp_path / "g", "--quiet",
                 "--drop-near-copies", lgg / "train30", *options)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    dropped = table_rows(tmp_path / "g" / "shard-00000" / "near_copies.csv")
    kept = read_dataset(tmp_path / "g").samples
    assert summary["near_copies_dropped"] == len(dropped) and len(kept) + len(dropped) == 60
    reals = read_dataset(lgg / "train30", format="tabimage", id_column="case", id_pattern="^([^/]+)/",
                         drop_columns="Patient", channels="1", table=lgg / "patients_train30.csv").samples
    records = NearestRecord(*patient_rows(reals))
    assert all(not records.is_near_copy(records.nearest(s.features)[1]) for s in kept)
    assert all(records.is_near_copy(float(d["row_distance"])) for d in dropped)

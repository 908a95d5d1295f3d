"""runs_markdown: one table row and one note per run, the machine record left out."""

from augkit_latent.run_summary import runs_markdown


def _run(epochs, **extra):
    div = {"mean_pairwise_l2": 0.2, "mean_pairwise_1_minus_ncc": 0.5, "near_duplicate_pair_share": 0.0}
    return {"label_source": "grade", "epochs": epochs, "train_seconds": 12.5, "num_train_slices": 100,
            "config": {"profile": "cpu", "seed": 0, "epochs": epochs}, "files": ["x_samples.png", "real_64px.png"],
            "measures": {"generated": div, "real": div,
                         "nearest_real_1_minus_ncc": {"generated_median": 0.3, "generated_min": 0.1,
                                                      "real_to_other_real_median": 0.2}}, **extra}


def test_one_row_and_note_per_run_and_each_grid_once():
    text = runs_markdown({"machine": {"cpus": 2}, "tlgan": _run(3),
                          "dcgan": _run(5, channels="flair", class_counts={"a": 60, "b": 40},
                                        label_effect={"classes": ["a", "b"], "num_noise_vectors": 24,
                                                      "mean_abs_pixel_change_same_noise_other_class": 0.01,
                                                      "mean_abs_pixel_change_other_noise_same_class": 0.2})})
    rows = [line for line in text.splitlines() if line.startswith("| dcgan") or line.startswith("| tlgan")]
    assert [r.split(" | ")[0] for r in rows] == ["| dcgan", "| tlgan"]
    assert "| dcgan | grade | 5 | 12.5 | 0.200 / 0.200 |" in rows[0]
    assert "- `dcgan`: flair images, 100 slices (train30 + val + test), labels: grade {'a': 60, 'b': 40}" in text
    assert "the same 24 noise vectors under a vs b change a pixel by 0.0100" in text
    assert "settings changed from the cpu profile: {'epochs': 3}" in text
    assert "Grids: `x_samples.png`, `real_64px.png`" in text
    assert "machine" not in text

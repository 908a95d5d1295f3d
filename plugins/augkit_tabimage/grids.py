"""Pictures of image + row pairs: a generated slice means little without the row it came with,
so generated (and real) slices are drawn under a caption of their row's main fields."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from augkit.evaluate.image_row_agreement import is_missing

#: the row fields a caption shows, and their short labels
SHOWN = {"neoplasm_histologic_grade": "grade", "death01": "death01", "age_at_initial_pathologic": "age",
         "gender": "gender", "histological_type": "histol. type"}


def row_caption(features: dict) -> str:
    """Five fields of a row (grade as WHO II/III), short enough to sit above a 2.4-inch image."""

    def show(k, v):
        if is_missing(v):
            return "(missing)"
        if k == "neoplasm_histologic_grade":
            return {1: "1 (WHO II)", 2: "2 (WHO III)"}.get(int(v), str(v))
        return str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)

    return "\n".join(f"{label}: {show(k, features[k])}" for k, label in SHOWN.items() if k in features)


def write_rows_csv(path: Path, samples) -> None:
    """The rows of ``samples``, one line each under its sample id."""
    import pandas as pd

    frame = pd.DataFrame([{"sample": s.id, **s.features} for s in samples])
    path.write_text(frame.to_csv(index=False))


def draw_grids(out_dir: Path, samples, fakes, epochs: int, size: int) -> None:
    """``samples.png`` (24 generated, 8 real), ``samples_with_rows.png`` (8 generated images under
    their generated rows, also in ``samples_with_rows.csv``), ``real_with_rows.png``."""
    from augkit.generators.training import save_image_grid

    real = [s.image for s in samples[::max(1, len(samples) // 8)][:8]]
    rows = [[f.image for f in fakes[r * 8:(r + 1) * 8]] for r in range(3)] + [real]
    save_image_grid(out_dir / "samples.png", rows, title=f"tabimage cpu ({size} px model), "
                    f"{epochs} epochs: generated (rows 1-3), real FLAIR (row 4)")
    shown = fakes[:8]
    save_image_grid(out_dir / "samples_with_rows.png", [[f.image for f in shown]],
                    column_titles=[row_caption(f.features) for f in shown], cell_inches=2.2,
                    title="generated FLAIR slices (the first 8 of the run), each under its generated row")
    reals = [samples[i] for i in np.linspace(0, len(samples) - 1, 8).astype(int)]
    save_image_grid(out_dir / "real_with_rows.png", [[r.image for r in reals]],
                    column_titles=[row_caption(r.features) for r in reals], cell_inches=2.2,
                    title="real training slices under their patients' rows")
    write_rows_csv(out_dir / "samples_with_rows.csv", shown)

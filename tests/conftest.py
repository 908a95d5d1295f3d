"""Shared fixtures: where the real data lives, and tiny datasets written into tmp_path."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO_ROOT / ".." / "shared" / "data").resolve()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` next to the repository (real LGG, BraTS and membrane data).

    Required: a missing folder fails the tests that need it (a skip would hide untested
    readers behind a green run)."""
    if not SHARED_DATA.is_dir():
        pytest.fail(f"real data not found at {SHARED_DATA}: the tests need ../shared/data beside "
                    "the repository (LGG, BraTS, membrane)", pytrace=False)
    return SHARED_DATA


def encode_file(name: str, content) -> bytes:
    """Bytes for a test file: ``bytes`` as given, arrays encoded by the name's extension with
    the libraries themselves (not augkit's writers, which are under test)."""
    if isinstance(content, (bytes, bytearray)):
        return bytes(content)
    array = np.asarray(content)
    lower = name.lower()
    buf = io.BytesIO()
    if lower.endswith((".nii", ".nii.gz")):
        import nibabel as nib

        data = nib.Nifti1Image(array, np.eye(4)).to_bytes()
        return gzip.compress(data, mtime=0) if lower.endswith(".gz") else data
    if lower.endswith((".tif", ".tiff")):
        import tifffile

        tifffile.imwrite(buf, array, metadata=None)
        return buf.getvalue()
    from PIL import Image

    Image.fromarray(array).save(buf, format="JPEG" if lower.endswith((".jpg", ".jpeg")) else "PNG")
    return buf.getvalue()


@pytest.fixture
def tmp_dataset(tmp_path):
    """Build a small dataset: ``tmp_dataset({"a/x.png": array, "a/x_mask.png": array})``.

    Values may be arrays (encoded by extension: PNG, TIFF, JPEG, NIfTI) or raw bytes.
    Returns the dataset root (a fresh folder under ``tmp_path`` per call).
    """
    counter = iter(range(1000))

    def make(files: dict[str, object]) -> Path:
        root = tmp_path / f"dataset{next(counter)}"
        root.mkdir()
        for rel, content in files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(encode_file(rel, content))
        return root

    return make


@pytest.fixture
def epochs_run(monkeypatch):
    """A list that grows by one for every training epoch actually run in this process (every
    GAN plugin trains an epoch through ``augkit.generators.training.train_one_epoch``), so a resume test
    can show it trained only the missing epochs: a rerun from scratch gives the same weights
    and losses, but not the same count."""
    import augkit.generators.training as training

    runs: list[int] = []
    real = training.train_one_epoch

    def counted(*args, **kwargs):
        runs.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(training, "train_one_epoch", counted)
    return runs

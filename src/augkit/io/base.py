"""What a dataset format is: a reader that detects and reads a folder into real Samples, and a
writer that gives Samples back in the same format and layout."""

from __future__ import annotations

import abc
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from augkit.sample import Sample


@dataclass
class Dataset:
    """The real samples read from one folder, and how they were read."""

    root: Path
    format: str
    samples: list[Sample]
    options: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.samples)

    def __iter__(self):
        return iter(self.samples)

    def __getitem__(self, i: int) -> Sample:
        return self.samples[i]


class DatasetFormat(abc.ABC):
    """A reader + writer pair. Instances are registered through ``register_formats``."""

    name: ClassVar[str]
    #: higher wins when several formats claim a folder
    priority: ClassVar[int] = 0

    @abc.abstractmethod
    def detect(self, root: Path) -> bool:
        """Cheap check (file names only) whether ``root`` looks like this format."""

    @abc.abstractmethod
    def read(self, root: Path, **options: Any) -> Dataset:
        """Read and validate every real sample; raise ``DataError`` naming the bad file."""

    @abc.abstractmethod
    def write(self, sample: Sample, out_dir: Path) -> list[str]:
        """Write one sample under ``out_dir`` in this format; return the relative paths written.

        A real sample whose ``meta['source_files']`` lists its original files is copied byte
        for byte. Files must appear atomically (write to a temporary name, then rename).
        """


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# mkstemp makes 0600 files; datasets and reports are meant to be shared like any written file.
_FILE_MODE = 0o666 & ~_current_umask()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` so that ``path`` either has all of it or does not exist."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dst.parent, prefix=".tmp-", suffix=dst.suffix)
    os.close(fd)
    try:
        shutil.copyfile(src, tmp)
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, dst)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

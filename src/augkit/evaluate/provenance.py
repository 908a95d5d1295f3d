"""Where a result came from: the code (git revision, dirty flag, a hash of the source), the
package versions and the machine. Every benchmark writes ``provenance()`` into its JSON, and
its caches key on ``code_hash()``, so "made on this code" can be checked from the artefact."""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
CODE_DIRS = ("src", "plugins")  # the library and its built-in plugins: what a result depends on
# the pinned runtime dependencies (pyproject.toml) and the optional engines that change results
PACKAGES = ("augkit", "tensorflow-cpu", "tensorflow", "keras", "numpy", "albumentations", "scipy",
            "scikit-image", "scikit-learn", "nibabel", "pillow", "tifffile", "pandas", "pluggy", "ray",
            "torch")


def code_hash(root: Path | str = REPO, dirs: tuple[str, ...] = CODE_DIRS) -> str:
    """sha256 (first 16 hex digits) over every ``*.py`` under ``root/<dir>`` for ``dirs``: each
    file's path relative to ``root`` and its bytes, in sorted order. Same code, same hash,
    whatever git says (uncommitted edits count). "unknown" when there is no such file (augkit
    installed from a wheel, not run from its repository)."""
    root = Path(root)
    digest = hashlib.sha256()
    found = False
    for folder in dirs:
        for path in sorted((root / folder).rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            found = True
            digest.update(path.relative_to(root).as_posix().encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16] if found else "unknown"


def git_revision(root: Path | str = REPO) -> tuple[str, bool | None]:
    """(commit, dirty) of the checkout at ``root``; ("unknown", None) outside git or without git."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                              check=True, timeout=20).stdout.strip()

    try:
        revision = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no", "--", *CODE_DIRS))
    except (OSError, subprocess.SubprocessError):
        return "unknown", None
    return revision, dirty


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    """Installed version of each package in ``names`` that is installed."""
    found = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def provenance(root: Path | str = REPO) -> dict:
    """What a results file records about the code and machine that made it::

        {"git_revision": "<sha>" | "unknown", "git_dirty": bool | None,
         "code_hash": "<16 hex>" (src/ + plugins/ *.py), "packages": {name: version},
         "python": "3.11.x", "platform": "...", "machine": "x86_64", "cpu_count": 2}
    """
    revision, dirty = git_revision(root)
    return {"git_revision": revision, "git_dirty": dirty, "code_hash": code_hash(root),
            "packages": package_versions(), "python": platform.python_version(),
            "platform": platform.platform(), "machine": platform.machine(), "cpu_count": os.cpu_count(),
            "executable": sys.executable}


def check_same_code(recorded: dict | None, current_hash: str, what: str | Path) -> None:
    """Raise ``ProvenanceError`` unless ``recorded`` (a stored provenance, or a cache entry that
    holds a ``code_hash``) was made on the code whose hash is ``current_hash``."""
    from augkit.errors import ProvenanceError

    old = (recorded or {}).get("code_hash")
    if old != current_hash:
        raise ProvenanceError(what, old, current_hash)

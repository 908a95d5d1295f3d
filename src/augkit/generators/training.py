"""Helpers every GAN plugin trains with: differentiable augmentation for the discriminator,
atomic resumable checkpoints, best-weights tracking, loss history (CSV + curve), sample grids and
a progress bar. Nothing here knows a particular network; only GAN plugins import this module
(it imports Keras)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np
from keras import ops

from augkit.errors import ModelError

DIFF_AUGMENT_POLICY = ("translation", "cutout", "brightness")
CHECKPOINT_FORMAT = 1


class CheckpointWarning(UserWarning):
    """A checkpoint was unreadable and an older one was used instead."""


# --------------------------------------------------------------------------- DiffAugment
class DiffAugment(keras.layers.Layer):
    """Differentiable augmentation (Zhao et al. 2020) for what the discriminator sees.

    Apply it to real and fake batches alike, in both the discriminator and the generator
    update, so the generator is never rewarded for reproducing the augmentation. Every op is a
    multiply/add/einsum, so gradients reach the generator. Draws come from the layer's own
    seeded ``SeedGenerator`` (part of ``variables``, so checkpoints carry it).

    ``translation`` shifts each image by up to ``translation_ratio`` of its size (zero fill),
    ``cutout`` zeroes one square of ``cutout_ratio`` of the size, ``brightness`` adds one value
    in [-0.5, 0.5) per image to the last ``num_color_channels`` channels (all when None), so a
    condition stacked in front of the image is moved and cut with it but not brightened.
    """

    def __init__(self, policy: Sequence[str] = DIFF_AUGMENT_POLICY, *, seed: int = 0,
                 translation_ratio: float = 0.125, cutout_ratio: float = 0.5, **kwargs):
        super().__init__(**kwargs)
        unknown = set(policy) - set(DIFF_AUGMENT_POLICY)
        if unknown:
            raise ValueError(f"DiffAugment policy items must be in {DIFF_AUGMENT_POLICY}. "
                             f"Received: {sorted(unknown)}")
        self.policy = tuple(policy)
        self.translation_ratio = translation_ratio
        self.cutout_ratio = cutout_ratio
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "policy": list(self.policy), "seed": self.seed,
                "translation_ratio": self.translation_ratio, "cutout_ratio": self.cutout_ratio}

    def call(self, images, num_color_channels: int | None = None):
        x = images
        for op in self.policy:
            x = getattr(self, f"_{op}")(x, num_color_channels)
        return x

    def _translation(self, x, _):
        batch, height, width = ops.shape(x)[0], x.shape[1], x.shape[2]

        def shift_matrices(n: int):
            limit = int(n * self.translation_ratio + 0.5)
            shift = keras.random.randint((batch,), -limit, limit + 1, seed=self.seed_generator)
            idx = ops.arange(n)
            # m[b, i, k] = 1 where output row i reads input row k = i - shift[b]; else zero fill
            return ops.cast(ops.equal(idx[None, None, :], idx[None, :, None] - shift[:, None, None]),
                            x.dtype)

        x = ops.einsum("bik,bkjc->bijc", shift_matrices(height), x)
        return ops.einsum("bjl,bilc->bijc", shift_matrices(width), x)

    def _cutout(self, x, _):
        batch, height, width = ops.shape(x)[0], x.shape[1], x.shape[2]

        def band(n: int):
            size = int(n * self.cutout_ratio + 0.5)
            centre = keras.random.randint((batch, 1), 0, n + (1 - size % 2), seed=self.seed_generator)
            start = centre - size // 2
            idx = ops.arange(n)[None, :]
            return ops.logical_and(idx >= start, idx < start + size)  # (batch, n)

        hole = ops.logical_and(band(height)[:, :, None], band(width)[:, None, :])
        return x * ops.cast(ops.logical_not(hole), x.dtype)[..., None]

    def _brightness(self, x, num_color_channels):
        shift = keras.random.uniform((ops.shape(x)[0], 1, 1, 1), seed=self.seed_generator) - 0.5
        channels = x.shape[-1]
        keep = channels - (channels if num_color_channels is None else int(num_color_channels))
        if keep <= 0:
            return x + shift
        return ops.concatenate([x[..., :keep], x[..., keep:] + shift], axis=-1)


# --------------------------------------------------------------------------- checkpoints
class AdversarialModel(keras.Model):
    """The Keras GAN shape every plugin's training model has (Keras' GAN examples): generator
    and discriminator passed in, ``compile`` with one optimizer each, a ``SeedGenerator`` for
    the step's random draws, one running mean per name in ``metric_names``. Subclasses write
    ``train_step`` and end it with ``return self._log(*values)`` in ``metric_names`` order."""

    metric_names: tuple[str, ...] = ()

    def __init__(self, generator: keras.Model, discriminator: keras.Model, *,
                 diff_augment: DiffAugment | None = None, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.diff_augment = diff_augment
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.loss_fn = keras.losses.BinaryCrossentropy(from_logits=True)
        self.trackers = [keras.metrics.Mean(name=n) for n in self.metric_names]

    def compile(self, g_optimizer, d_optimizer):
        # XLA off: same numbers on every machine, and no compile pause on small CPUs
        super().compile(jit_compile=False)
        self.g_optimizer = g_optimizer
        self.d_optimizer = d_optimizer

    @property
    def metrics(self):
        return list(self.trackers)

    def call(self, inputs, training=False):
        return self.generator(inputs, training=training)

    def build_optimizers(self) -> None:
        """Create optimizer state now (it is otherwise made on the first step) so a checkpoint
        can be restored into it."""
        self.g_optimizer.build(self.generator.trainable_variables)
        self.d_optimizer.build(self.discriminator.trainable_variables)

    def _step_both(self, g_tape, g_loss, d_tape, d_loss) -> None:
        """One optimizer step for each network from the losses its tape recorded (the
        generator and the discriminator trained in the same step)."""
        g_vars = self.generator.trainable_variables
        d_vars = self.discriminator.trainable_variables
        self.g_optimizer.apply_gradients(zip(g_tape.gradient(g_loss, g_vars), g_vars))
        self.d_optimizer.apply_gradients(zip(d_tape.gradient(d_loss, d_vars), d_vars))

    def _log(self, *values) -> dict[str, Any]:
        from augkit.generators.distribute import log_value, unscaled

        for tracker, value in zip(self.trackers, values, strict=True):
            tracker.update_state(unscaled(value))  # a replica's share of a loss -> its own mean
        return {m.name: log_value(m.result()) for m in self.trackers}


def variable_arrays(groups: Mapping[str, Sequence[Any]]) -> dict[str, np.ndarray]:
    """Flatten named groups of variables (model, optimizers, RNG states) to ``group/index``
    keyed arrays, the unit a checkpoint stores."""
    return {f"{name}/{i}": np.array(keras.ops.convert_to_numpy(v))
            for name, variables in groups.items() for i, v in enumerate(variables)}


def assign_arrays(groups: Mapping[str, Sequence[Any]], arrays: Mapping[str, np.ndarray],
                  where: str | Path) -> None:
    """Put ``variable_arrays`` output back; a missing key or wrong shape is a ModelError."""
    for name, variables in groups.items():
        for i, v in enumerate(variables):
            key = f"{name}/{i}"
            if key not in arrays or tuple(arrays[key].shape) != tuple(v.shape):
                got = "missing" if key not in arrays else f"shape {tuple(arrays[key].shape)}"
                raise ModelError(
                    f"{where}: checkpoint does not fit this model ({key} is {got}, expected "
                    f"{tuple(v.shape)}); it was made with other settings. Fix: use the settings "
                    "it was made with, or a new checkpoint_dir."
                )
            v.assign(arrays[key])


def weights_hash(arrays: Sequence[np.ndarray]) -> str:
    """Short sha256 of weight values, in order (recorded in every GAN sample's provenance)."""
    digest = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        digest.update(str((a.dtype.str, a.shape)).encode())
        digest.update(a.tobytes())
    return digest.hexdigest()[:12]


@dataclass
class Checkpoint:
    path: Path
    epoch: int
    arrays: dict[str, np.ndarray]
    state: dict[str, Any]
    blobs: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)


class CheckpointManager:
    """One sub-folder per finished epoch (``epoch-0003/``: ``arrays.npz`` + ``state.json``).

    A checkpoint is written into a temporary folder and renamed into place, and ``state.json``
    (written last) records the sha256 of every file it relies on, so a kill mid-write leaves
    the whole checkpoint or none, and a torn file is caught on restore. ``restore`` takes the
    newest readable checkpoint; an unreadable one is reported with a ``CheckpointWarning`` and
    the previous one is used; if none is readable it is a ModelError. The last ``keep``
    checkpoints are kept so there is something to fall back to.

    Arrays that change rarely (e.g. the best weights so far) go in *blobs*: content-named files
    (``best-<sha>.npz``) written once by ``write_blob`` and referenced by name from every
    checkpoint that needs them, instead of being copied into each epoch. Blobs no kept
    checkpoint refers to are deleted.
    """

    def __init__(self, directory: str | Path, *, keep: int = 2):
        self.directory = Path(directory)
        self.keep = max(1, keep)

    def _epoch_dirs(self) -> list[tuple[int, Path]]:
        if not self.directory.is_dir():
            return []
        found = []
        for p in self.directory.glob("epoch-*"):
            try:
                found.append((int(p.name.split("-", 1)[1]), p))
            except ValueError:
                continue
        return sorted(found)

    def write_blob(self, prefix: str, arrays: Mapping[str, np.ndarray]) -> str:
        """Store ``arrays`` once as ``<prefix>-<sha>.npz``; return that name for ``save``."""
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-blob-", suffix=".npz", dir=self.directory)
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, **arrays)
            name = f"{prefix}-{_sha256(Path(tmp))[:16]}.npz"
            os.replace(tmp, self.directory / name)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return name

    def save(self, epoch: int, arrays: Mapping[str, np.ndarray], state: Mapping[str, Any], *,
             blobs: Sequence[str] = ()) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        final = self.directory / f"epoch-{epoch:04d}"
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-epoch-{epoch:04d}-", dir=self.directory))
        try:
            # no fsync: rename is atomic against a killed process, and the checksums catch a
            # file torn by a power cut (restore then falls back to the previous checkpoint)
            np.savez(tmp / "arrays.npz", **arrays)
            meta = {"format": CHECKPOINT_FORMAT, "epoch": epoch,
                    "arrays_sha256": _sha256(tmp / "arrays.npz"),
                    "blobs": {name: _sha256(self.directory / name) for name in blobs},
                    "state": dict(state)}
            (tmp / "state.json").write_text(json.dumps(meta, indent=1))
            if final.exists():  # re-written epoch (e.g. after a fallback): move the old one aside
                trash = Path(tempfile.mkdtemp(prefix=".trash-", dir=self.directory))
                os.replace(final, trash / final.name)
                shutil.rmtree(trash, ignore_errors=True)
            os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        kept = self._epoch_dirs()
        for _, old in kept[: -self.keep]:
            shutil.rmtree(old, ignore_errors=True)
        self._prune_blobs([p for _, p in kept[-self.keep:]])
        return final

    def _prune_blobs(self, kept: Sequence[Path]) -> None:
        used = set()
        for path in kept:
            try:
                used.update(json.loads((path / "state.json").read_text()).get("blobs", {}))
            except (OSError, ValueError):
                return  # unsure what is referenced: keep everything
        for blob in self.directory.glob("*-*.npz"):
            if blob.name not in used:
                blob.unlink(missing_ok=True)

    def restore(self) -> Checkpoint | None:
        """The newest readable checkpoint, or None when the folder has none."""
        if self.directory.is_dir():
            for stale in self.directory.glob(".tmp-*"):  # left by a kill mid-write
                if stale.is_dir():
                    shutil.rmtree(stale, ignore_errors=True)
                else:
                    stale.unlink(missing_ok=True)
        candidates = list(reversed(self._epoch_dirs()))
        problems = []
        for epoch, path in candidates:
            try:
                return self._read(epoch, path)
            except ModelError as exc:
                problems.append(str(exc))
                warnings.warn(f"{exc} Falling back to an older checkpoint.", CheckpointWarning,
                              stacklevel=2)
        if candidates:
            raise ModelError(
                f"{self.directory}: no readable checkpoint ({len(candidates)} found, all damaged: "
                f"{problems[0]}). Fix: delete the folder to train from scratch."
            )
        return None

    def _read(self, epoch: int, path: Path) -> Checkpoint:
        try:
            meta = json.loads((path / "state.json").read_text())
            files = {path / "arrays.npz": meta["arrays_sha256"],
                     **{self.directory / n: sha for n, sha in meta.get("blobs", {}).items()}}
            if meta.get("format", 0) > CHECKPOINT_FORMAT:
                raise ModelError(f"{path}: checkpoint format {meta.get('format')} is newer than this "
                                 f"augkit reads ({CHECKPOINT_FORMAT}). Fix: upgrade augkit.")
            for file, sha in files.items():
                if _sha256(file) != sha:
                    raise ModelError(f"{path}: checkpoint file {file.name} does not match its "
                                     "checksum (interrupted or damaged write).")
            arrays = _load_npz(path / "arrays.npz")
            blobs = {n: _load_npz(self.directory / n) for n in meta.get("blobs", {})}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"{path}: checkpoint is incomplete or unreadable ({type(exc).__name__})."
                             ) from None
        return Checkpoint(path, int(meta.get("epoch", epoch)), arrays, meta.get("state", {}), blobs)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


@dataclass
class BestWeights:
    """Keeps the weights of the lowest validation loss (seed 001 keeps its best epoch)."""

    loss: float = float("inf")
    epoch: int | None = None
    arrays: list[np.ndarray] = field(default_factory=list)

    def update(self, loss: float, epoch: int, weights: Sequence[Any]) -> bool:
        if not np.isfinite(loss) or loss >= self.loss:
            return False
        self.loss, self.epoch = float(loss), epoch
        self.arrays = [np.array(keras.ops.convert_to_numpy(w)) for w in weights]
        return True

    def restore_into(self, weights: Sequence[Any]) -> bool:
        if not self.arrays:
            return False
        for w, a in zip(weights, self.arrays):
            w.assign(a)
        return True

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {f"best/{i}": a for i, a in enumerate(self.arrays)}

    def to_state(self) -> dict[str, Any]:
        return {"loss": None if self.epoch is None else self.loss, "epoch": self.epoch,
                "count": len(self.arrays)}

    @classmethod
    def from_state(cls, state: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> "BestWeights":
        """Rebuild from ``to_state()`` and ``to_arrays()`` output (e.g. a checkpoint blob)."""
        if state.get("epoch") is None:
            return cls()
        return cls(float(state["loss"]), int(state["epoch"]),
                   [arrays[f"best/{i}"] for i in range(int(state["count"]))])


# --------------------------------------------------------------------------- history and pictures
def write_history(history: Mapping[str, Sequence[float]], csv_path: str | Path,
                  png_path: str | Path | None = None, *, plot_keys: Sequence[str] | None = None,
                  title: str = "training losses") -> None:
    """Loss history as CSV (one row per epoch, every key) and, if asked, a curve PNG of
    ``plot_keys`` (default all; names containing "l1" get their own panel). Atomic writes."""
    names = list(history)
    num_epochs = max((len(v) for v in history.values()), default=0)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["epoch", *names])
    for e in range(num_epochs):
        writer.writerow([e + 1, *(_cell(history[n], e) for n in names)])
    _atomic_write(Path(csv_path), text.getvalue().encode())
    if png_path is not None:
        from matplotlib.figure import Figure  # no pyplot: no global figure state

        plotted = [n for n in (names if plot_keys is None else plot_keys) if n in history]
        fig = Figure(figsize=(8, 3.6), dpi=100)
        two = any("l1" in n.lower() for n in plotted) and any("l1" not in n.lower() for n in plotted)
        axes = fig.subplots(1, 2) if two else [fig.subplots()]
        for name in plotted:
            values = np.asarray(history[name], dtype=float)
            ax = axes[1] if "l1" in name.lower() and len(axes) > 1 else axes[0]
            ax.plot(np.arange(1, len(values) + 1), values, label=name)
        for ax in axes:
            ax.set_xlabel("epoch")
            if ax.lines:  # an empty legend warns, and tests turn warnings into errors
                ax.legend(fontsize=8)
            ax.grid(alpha=0.3)
        fig.suptitle(title)
        fig.tight_layout()
        _save_figure(fig, Path(png_path))


def _cell(values: Sequence[float], e: int) -> str:
    return "" if e >= len(values) else f"{float(values[e]):.6g}"


def save_image_grid(path: str | Path, rows: Sequence[Sequence[np.ndarray]], *,
                    column_titles: Sequence[str] | None = None, title: str | None = None,
                    cell_inches: float = 1.6) -> None:
    """A grid PNG of uint8 images (H×W, H×W×1 or H×W×3), one list per row."""
    from matplotlib.figure import Figure

    num_rows, num_cols = len(rows), max(len(r) for r in rows)
    fig = Figure(figsize=(cell_inches * num_cols, cell_inches * num_rows + (0.4 if title else 0)),
                 dpi=100)
    axes = np.atleast_2d(fig.subplots(num_rows, num_cols, squeeze=False))
    for r, row in enumerate(rows):
        for c in range(num_cols):
            ax = axes[r, c]
            ax.set_axis_off()
            if c < len(row):
                img = np.asarray(row[c])
                if img.ndim == 3 and img.shape[-1] == 1:
                    img = img[..., 0]
                ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=255,
                          interpolation="nearest")
            if r == 0 and column_titles and c < len(column_titles):
                ax.set_title(column_titles[c], fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    height = fig.get_figheight()  # keep the title clear of the column titles below it
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / height) if title else None)
    _save_figure(fig, Path(path))


def _save_figure(fig, path: Path) -> None:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    _atomic_write(path, buffer.getvalue())


def _atomic_write(path: Path, data: bytes) -> None:
    from augkit.io.base import atomic_write_bytes

    atomic_write_bytes(path, data)


def progress_bar(total: int, *, initial: int = 0, enabled: bool = True, desc: str = "training",
                 unit: str = "step"):
    """A tqdm bar showing done/total, rate and time left; silent when ``enabled`` is False."""
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, disable=not enabled, desc=desc, unit=unit,
                dynamic_ncols=True, leave=True)


def check_resumable(ckpt: Checkpoint, expected: Mapping[str, Any], seed: int) -> None:
    """Refuse to resume from a checkpoint another model wrote: ``expected`` holds what this
    model would write under the same keys (``generator``, ``config``, its data description);
    a different fit seed would silently mix two random streams, so it is refused too."""
    state = ckpt.state
    differs = [key for key, value in expected.items() if state.get(key) != value]
    if differs:
        raise ModelError(
            f"{ckpt.path}: checkpoint was made by a {state.get('generator')} model that differs from "
            f"this one in {', '.join(differs)} (checkpoint: {', '.join(f'{k}={state.get(k)}' for k in differs)}; "
            f"this model: {', '.join(f'{k}={expected[k]}' for k in differs)}). "
            "Fix: use a new checkpoint_dir.")
    if state.get("fit_seed") != int(seed):
        raise ModelError(
            f"{ckpt.path}: checkpoint was trained with seed={state.get('fit_seed')}, fit was called "
            f"with seed={seed}. Fix: pass seed={state.get('fit_seed')} or use a new checkpoint_dir.")


def train_one_epoch(train_on_batch, arrays: Sequence[np.ndarray], order: np.ndarray, batch_size: int, *,
                    epoch: int, bar, name: str, fix: str, shown: Sequence[str] = ("d_loss", "g_loss"),
                    ) -> dict[str, float]:
    """One pass of ``train_on_batch(*batch, return_dict=True)`` over ``arrays`` (indexed
    together) in the permutation ``order``, in whole batches only: a fixed batch shape means a
    single traced step. Returns each log's mean over the epoch; a non-finite mean is a
    ModelError naming ``name``, the epoch and ``fix``."""
    steps = len(order) // batch_size
    sums: dict[str, float] = {}
    for s in range(steps):
        idx = np.sort(order[s * batch_size:(s + 1) * batch_size])
        logs = train_on_batch(*(a[idx] for a in arrays), return_dict=True)
        for key, value in logs.items():
            sums[key] = sums.get(key, 0.0) + float(value)
        bar.update(1)
        bar.set_postfix(epoch=epoch + 1, **{k: f"{float(logs[k]):.3f}" for k in shown if k in logs},
                        refresh=False)
    record = {key: value / max(1, steps) for key, value in sums.items()}
    if not all(np.isfinite(v) for v in record.values()):
        raise ModelError(f"{name} training diverged at epoch {epoch + 1} (losses {record}). Fix: {fix}")
    return record

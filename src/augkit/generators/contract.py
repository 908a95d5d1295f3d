"""The generator contract every GAN plugin implements. Training helpers shared by the GAN
plugins (differentiable augmentation, checkpoints, history, grids) live in ``augkit.generators.training``."""

from __future__ import annotations

import abc
import json
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from augkit.errors import ModelError, UsageError
from augkit.sample import Sample
from augkit.seeding import derive_seed

TASKS = frozenset({"segmentation", "classification", "unconditional", "image+tabular"})


class Generator(abc.ABC):
    """A trainable source of synthetic Samples.

    Subclasses set ``name`` and ``tasks`` and implement the five methods. ``get_config()`` must
    return JSON-able values from which ``cls(**config)`` rebuilds an untrained twin, seed included.
    """

    name: ClassVar[str]
    tasks: ClassVar[frozenset[str]]
    # What a segmentation generator's ``conditions`` are: "mask" (H×W label maps; it paints an
    # image for each) or "sample" (real Samples with masks, e.g. a lesion transplant that edits
    # them; it returns a new Sample, mask included, for each).
    condition: ClassVar[str] = "mask"
    # True where the generator also works on whole NIfTI cases (X×Y×Z×C images; ``augkit
    # expand`` on cases refuses the others, naming --unit slice).
    volumes: ClassVar[bool] = False
    # True where ``fit`` runs under ``augkit.generators.distribute``'s strategies (``augkit train
    # --strategy mirrored|multiworker``); the others train on one device and refuse them.
    distributable: ClassVar[bool] = False

    @abc.abstractmethod
    def get_config(self) -> dict[str, Any]: ...

    @abc.abstractmethod
    def fit(self, train_samples: Sequence[Sample], *, val_samples: Sequence[Sample] | None = None,
            epochs: int | None = None, seed: int = 0, checkpoint_dir: str | Path | None = None,
            progress: bool = True) -> dict[str, list[float]]:
        """Train; return the loss history (metric name -> value per epoch). Resumes from the
        newest checkpoint in ``checkpoint_dir`` when one is there."""

    @abc.abstractmethod
    def generate(self, num_samples: int, *, seed: int, conditions: Sequence[Any] | None = None,
                 batch_size: int = 16) -> Iterator[Sample]:
        """Yield ``num_samples`` Samples with source ``gan``. For a segmentation generator
        ``conditions`` are H×W label maps and each yielded Sample carries that exact mask (or,
        with ``condition = "sample"``, real Samples to edit, each yielded with its new mask)."""

    @abc.abstractmethod
    def save(self, directory: str | Path) -> None:
        """Write config and weights (Keras native format) into ``directory``."""

    @classmethod
    @abc.abstractmethod
    def load(cls, directory: str | Path) -> "Generator":
        """Rebuild from ``save`` output; refuses folders of other generators or newer formats."""

    @property
    @abc.abstractmethod
    def checkpoint_hash(self) -> str:
        """A short hash of the current weights, recorded in every GAN sample's provenance."""


# ---- running a network so that an index's output never depends on its neighbours

def is_sample_conditioned(generator: Any) -> bool:
    """Does ``generator`` build its condition from a real sample (``condition = "sample"``:
    lesionmix, lesiongan, pix2pix with a tissue map) rather than from a bare mask?"""
    return generator is not None and getattr(generator, "condition", "mask") == "sample"


def condition_for(generator: Any, sample: Sample, image: Any = None, mask: Any = None) -> Any:
    """What a segmentation generator is asked to paint for ``sample`` (moved to ``image`` /
    ``mask`` when given): the mask, or, for one that builds its condition from the image too
    (``condition = "sample"``: lesionmix, pix2pix with a tissue map), the sample itself."""
    image = sample.image if image is None else image
    mask = sample.mask if mask is None else mask
    if is_sample_conditioned(generator):
        return sample.derive(image=image, mask=mask, provenance=sample.provenance)
    return mask


def run_per_index(network: Any, *inputs: Any) -> Any:
    """``network(*inputs)`` computed one index at a time (micro-batches of 1) and joined.

    A CPU kernel may pick another blocking or reduction order for another batch size, so the
    same row gives bits that differ in the last place when batched with 1, 2 or 5 others (the
    tabimage table drifted by 2e-6 between ``batch_size=5`` and ``2``). Calling the network
    with batches of one only makes sample i a function of its own input, whatever
    ``batch_size`` the caller asked for and whichever samples share its chunk; one input shape
    also means one traced graph. ``inputs`` are arrays with the index first, ``None``, or
    lists/tuples of those (per-layer noise); the output is an array or a tuple of arrays.
    """
    count = _leading_length(inputs)
    if count == 0:
        raise ValueError("run_per_index needs at least one index")
    parts = [network(*(_take(x, i) for x in inputs)) for i in range(count)]
    if isinstance(parts[0], (tuple, list)):
        return tuple(np.concatenate([np.asarray(p[j]) for p in parts]) for j in range(len(parts[0])))
    return np.concatenate([np.asarray(p) for p in parts])


def _leading_length(value: Any) -> int:
    if value is None:
        return -1
    if isinstance(value, (tuple, list)):
        return max((_leading_length(v) for v in value), default=-1)
    return len(value)


def _take(value: Any, i: int) -> Any:
    if value is None:
        return None
    if isinstance(value, (tuple, list)):
        return type(value)(_take(v, i) for v in value)
    return value[i:i + 1]


# ---- the saved-model folder every generator writes: config.json (written last) + weight files

CONFIG_FILE = "config.json"


def save_weight_files(directory: str | Path, pairs: Sequence[tuple[Any, str]]) -> None:
    """``model.save_weights`` for each (model, file name), each file appearing atomically."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for model, name in pairs:
        tmp = directory / f".tmp-{name}"  # keeps the .weights.h5 ending Keras requires
        model.save_weights(tmp)
        os.replace(tmp, directory / name)


def write_saved_config(directory: str | Path, meta: dict[str, Any]) -> None:
    """Written last: a folder with a config.json holds complete weights."""
    from augkit.io.base import atomic_write_bytes

    atomic_write_bytes(Path(directory) / CONFIG_FILE, json.dumps(meta, indent=1).encode())


def _config_of(directory: Path) -> Any:
    try:
        return json.loads((directory / CONFIG_FILE).read_text())
    except FileNotFoundError:
        raise ModelError(f"{directory}: no saved model here ({CONFIG_FILE} missing). Fix: give the "
                         "folder written by `augkit train` (or the generator's save()).") from None
    except (OSError, ValueError) as exc:
        raise ModelError(f"{directory}: {CONFIG_FILE} is unreadable ({exc}). Fix: save the model "
                         "again.") from None


def saved_generator_name(directory: str | Path) -> str:
    """The name of the generator that saved the model in ``directory`` (its config.json)."""
    meta = _config_of(Path(directory))
    if not isinstance(meta, dict) or not isinstance(meta.get("generator"), str):
        raise ModelError(f"{directory}: {CONFIG_FILE} names no generator. Fix: save the model again.")
    return meta["generator"]


def read_saved_config(directory: str | Path, generator_name: str, format_version: int) -> dict[str, Any]:
    """The config.json of a saved model, refusing folders of other generators or newer formats."""
    directory = Path(directory)
    meta = _config_of(directory)
    if not isinstance(meta, dict) or meta.get("generator") != generator_name:
        other = meta.get("generator") if isinstance(meta, dict) else None
        raise ModelError(f"{directory}: holds a {other!r} model, not a {generator_name} one. Fix: load "
                         f"it with the {other!r} generator or give a {generator_name} model folder.")
    version = meta.get("format_version")
    if not isinstance(version, int) or version > format_version:
        raise ModelError(f"{directory}: model format version {version!r} is newer than this augkit "
                         f"reads (up to {format_version}). Fix: upgrade augkit.")
    return meta


def load_weight_files(directory: str | Path, pairs: Sequence[tuple[Any, str]]) -> None:
    directory = Path(directory)
    for model, name in pairs:
        try:
            model.load_weights(directory / name)
        except Exception as exc:  # h5py/Keras raise many kinds for a bad file
            raise ModelError(f"{directory / name}: weights cannot be loaded "
                             f"({type(exc).__name__}). Fix: save the model again.") from None


class PairedNetworkGenerator(Generator):
    """What a generator trained as two Keras networks (``self._gan.generator`` and
    ``self._gan.discriminator``) on data described by ``self.spec`` does the same way whatever
    its networks: weight hash, save, load and re-seeding its random streams.

    Subclasses set ``get_profile`` (their profile lookup, as a staticmethod), implement
    ``_build(spec, *, loading)`` and set ``spec_type`` (a class with ``to_dict`` /
    ``from_dict``); each network lists its random streams as ``seed_generators``. One whose data takes more than a spec to describe overrides the three ``_*saved*`` hooks
    instead. ``fit`` calls ``_begin_fit`` before its epoch loop and ``_end_epoch`` after each epoch,
    and saves ``_checkpoint_state()``.
    """

    format_version: ClassVar[int] = 1
    spec_type: ClassVar[type]
    generator_file: ClassVar[str] = "generator.weights.h5"
    discriminator_file: ClassVar[str] = "discriminator.weights.h5"

    get_profile: ClassVar[Any]  # (name, **overrides) -> the plugin's profile dataclass

    def _epochs_to_train(self, epochs: int | None) -> int:
        """``fit(epochs=...)``, or the profile's; refused below 1."""
        epochs = self.profile.epochs if epochs is None else int(epochs)
        if epochs < 1:
            raise UsageError(f"{self.name} fit: epochs must be >= 1. Received: epochs={epochs}")
        return epochs

    def _fixed_batches(self, num_items: int) -> tuple[int, int]:
        """(batch size, steps per epoch) for ``num_items``: one fixed batch shape, so the
        training step is traced once; the order of the items changes each epoch."""
        batch_size = min(self.profile.batch_size, num_items)
        return batch_size, num_items // batch_size

    def _epochs_left(self, epochs: int) -> Iterator[tuple[int, float]]:
        """``(epoch, start time)`` for each epoch a (resumed) fit still has to train."""
        for epoch in range(self.epochs_trained, epochs):
            yield epoch, time.perf_counter()

    def _epoch_bar(self, epochs: int, steps: int, progress: bool):
        """The training progress bar (a context manager), started where a resumed fit left off."""
        from augkit.generators.training import progress_bar

        return progress_bar(epochs * steps, initial=min(self.epochs_trained, epochs) * steps,
                            enabled=progress, desc=self.name)

    def __init__(self, profile: str = "cpu", seed: int = 0, **overrides: Any):
        self.profile = self.get_profile(profile, **overrides)
        self._profile_name = profile
        self._overrides = dict(overrides)
        self.seed = int(seed)
        self.spec: Any = None  # set by fit or load
        self.epochs_trained = 0
        self.history: dict[str, list[float]] = {}
        self._gan: Any = None
        self._infer_fn: Any = None
        self._fit_seed: int | None = None
        self._hash: str | None = None

    def get_config(self) -> dict[str, Any]:
        return {"profile": self._profile_name, "seed": self.seed, **self._overrides}

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(profile={self._profile_name!r}, seed={self.seed}, "
                f"epochs_trained={self.epochs_trained})")

    @abc.abstractmethod
    def _build(self, spec: Any, *, loading: bool = False) -> None:
        """Create the networks (and optimizers) for data described by ``spec``."""

    def _network_seed_generators(self) -> list:
        """The SeedGenerators inside the two networks (dropout, noise), in a fixed order: each
        network lists its own as ``seed_generators``, the generator's first."""
        gan = self._gan
        return [*getattr(gan.generator, "seed_generators", []), *getattr(gan.discriminator, "seed_generators", [])]

    def _seed_generators(self) -> list:
        """The Keras SeedGenerators behind every random draw in training: the training step's,
        the networks', then DiffAugment's. The order fixes each one's derived seed."""
        gan = self._gan
        found = [gan.seed_generator, *self._network_seed_generators()]
        if gan.diff_augment is not None:
            found.append(gan.diff_augment.seed_generator)
        return found

    def _checkpoint_groups(self) -> dict[str, list]:
        """Every variable a checkpoint holds (weights, optimizer state, RNG state), by group. A
        discriminator with a frozen pretrained part lists only what it trains as
        ``checkpoint_weights``."""
        gan = self._gan
        return {
            "generator": list(gan.generator.weights),
            "discriminator": list(getattr(gan.discriminator, "checkpoint_weights", None)
                                  or gan.discriminator.weights),
            "g_optimizer": list(gan.g_optimizer.variables),
            "d_optimizer": list(gan.d_optimizer.variables),
            "rng": [g.state for g in self._seed_generators()],
        }

    def _saved_data(self) -> dict[str, Any]:
        """What describes the training data in config.json (JSON-able)."""
        return {"data": self.spec.to_dict()}

    def _parse_saved_data(self, meta: dict[str, Any]) -> Any:
        """``_saved_data`` read back; raises KeyError / TypeError / ValueError on bad values."""
        return self.spec_type.from_dict(meta["data"])

    def _build_loaded(self, parsed: Any) -> None:
        self._build(parsed, loading=True)

    def _identity(self) -> dict[str, Any]:
        """Which model on which data, as a checkpoint's JSON gives it back (tuples as lists)."""
        return json.loads(json.dumps({"generator": self.name, "config": self.get_config(),
                                      **self._saved_data()}))

    def _checkpoint_state(self) -> dict[str, Any]:
        return {**self._identity(), "fit_seed": self._fit_seed, "history": self.history}

    def _begin_fit(self, seed: int, checkpoint_dir: str | Path | None):
        """Before the epoch loop: a fresh or just-loaded model starts a training stream from
        ``seed``; a ``checkpoint_dir`` holding a later epoch is resumed from. Returns its
        CheckpointManager, or None without a folder."""
        from augkit.generators.training import CheckpointManager

        if self.epochs_trained == 0 or self._fit_seed is None:
            self._reseed(seed)
            self._fit_seed = int(seed)
            if self.epochs_trained == 0:
                self.history = {}
            self._new_stream()
        manager = CheckpointManager(checkpoint_dir) if checkpoint_dir is not None else None
        if manager is not None:
            ckpt = manager.restore()
            if ckpt is not None and ckpt.epoch > self.epochs_trained:
                self._restore(ckpt, seed)
        return manager

    def _end_epoch(self, epoch: int, record: dict[str, float], started: float) -> None:
        """Book a finished epoch: its logs and seconds (since ``started``, a perf_counter) into
        the history; the weights have changed, so the cached hash goes."""
        record["seconds"] = time.perf_counter() - started
        for key, value in record.items():
            self.history.setdefault(key, []).append(float(value))
        self.epochs_trained = epoch + 1
        self._hash = None

    def _new_stream(self) -> None:
        """Reset what belongs to one training stream (e.g. best-weights tracking)."""

    def _restore(self, ckpt, seed: int) -> None:
        from augkit.generators.training import assign_arrays, check_resumable

        check_resumable(ckpt, self._identity(), seed)
        assign_arrays(self._checkpoint_groups(), ckpt.arrays, ckpt.path)
        self.epochs_trained = ckpt.epoch
        self.history = {k: list(v) for k, v in ckpt.state.get("history", {}).items()}
        self._fit_seed = int(seed)
        self._hash = None

    def _reseed(self, seed: int) -> None:
        """Point every training RNG at streams derived from the fit seed."""
        for k, generator in enumerate(self._seed_generators()):
            state = generator.state
            state.assign(np.array([derive_seed(seed, 100 + k), 0], dtype=state.dtype))

    def _weight_pairs(self) -> tuple[tuple[Any, str], ...]:
        return ((self._gan.generator, self.generator_file),
                (self._gan.discriminator, self.discriminator_file))

    @property
    def checkpoint_hash(self) -> str:
        if self._gan is None:
            raise ModelError(f"{self.name} model has no weights yet. Fix: call fit() or load() first.")
        if self._hash is None:
            from augkit.generators.training import weights_hash

            self._hash = weights_hash([np.asarray(w) for w in self._gan.generator.weights])
        return self._hash

    def save(self, directory: str | Path) -> None:
        if self._gan is None:
            raise ModelError(f"{self.name} model has nothing to save. Fix: call fit() first.")
        directory = Path(directory)
        save_weight_files(directory, self._weight_pairs())
        meta = {"generator": self.name, "format_version": self.format_version,
                "config": self.get_config(), **self._saved_data(),
                "epochs_trained": self.epochs_trained, "checkpoint_hash": self.checkpoint_hash,
                "history": self.history}
        write_saved_config(directory, meta)

    @classmethod
    def load(cls, directory: str | Path):
        directory = Path(directory)
        meta = read_saved_config(directory, cls.name, cls.format_version)
        try:
            obj = cls(**meta["config"])
            parsed = obj._parse_saved_data(meta)
        except (KeyError, TypeError, ValueError, UsageError) as exc:
            raise ModelError(f"{directory}: {CONFIG_FILE} has bad settings ({exc}). Fix: save the "
                             "model again.") from None
        obj._build_loaded(parsed)
        load_weight_files(directory, obj._weight_pairs())
        if obj.checkpoint_hash != meta.get("checkpoint_hash"):
            raise ModelError(f"{directory}: weights do not match the hash in {CONFIG_FILE} "
                             "(damaged or mixed files). Fix: save the model again.")
        obj.epochs_trained = int(meta.get("epochs_trained", 0))
        obj.history = {k: list(v) for k, v in meta.get("history", {}).items()}
        return obj


class KeepsBestGenerator:
    """Mixin for a PairedNetworkGenerator whose ``generator`` network is kept at its best
    validation loss (pix2pix, lesiongan): the best weights ride along in every checkpoint as a
    blob, a resumed run restores them, and after ``fit`` they are on show while the last
    weights wait for the next ``fit``. List it before PairedNetworkGenerator."""

    _best = None  # augkit.generators.training.BestWeights, from _new_stream / _restore
    _best_blob: tuple[int | None, str | None] = (None, None)  # (epoch, checkpoint blob name)
    _last_weights: list | None = None  # the last weights while the best ones are on show

    def _new_stream(self) -> None:
        from augkit.generators.training import BestWeights

        self._best = BestWeights()

    def _checkpoint_state(self, blobs: Sequence[str] = ()) -> dict[str, Any]:
        return {**super()._checkpoint_state(),
                "best": {**self._best.to_state(), "blob": blobs[0] if blobs else None}}

    def _restore(self, ckpt, seed: int) -> None:
        from augkit.generators.training import BestWeights

        super()._restore(ckpt, seed)
        best = ckpt.state.get("best", {})
        self._best = BestWeights.from_state(best, ckpt.blobs.get(best.get("blob"), {}))
        self._best_blob = (self._best.epoch, best.get("blob"))

    def _resume_last_weights(self, network: Any) -> None:
        """Before training on: the last weights go back where the best ones were shown."""
        if self._last_weights is not None:
            for w, a in zip(network.weights, self._last_weights):
                w.assign(a)
            self._last_weights = None

    def _best_blobs(self, manager) -> list[str]:
        """The checkpoint blob of the best weights (written once per new best) for this save."""
        if self._best.arrays and self._best_blob[0] != self._best.epoch:
            self._best_blob = (self._best.epoch, manager.write_blob("best", self._best.to_arrays()))
        return [self._best_blob[1]] if self._best.arrays else []

    def _finish_epoch(self, epoch: int, record: dict[str, float], started: float, manager: Any,
                      val_l1: float | None, report: Any) -> None:
        """After an epoch's steps: the validation L1 joins the record and the best-weights
        tracking, the epoch is booked, and with a checkpoint folder the checkpoint (best weights
        as a blob) is saved and ``report(directory)`` writes the curves and sample grids."""
        from augkit.generators.training import variable_arrays

        if val_l1 is not None:
            record["val_l1"] = val_l1
            self._best.update(val_l1, epoch + 1, self._gan.generator.weights)
        self._end_epoch(epoch, record, started)
        if manager is not None:
            blobs = self._best_blobs(manager)
            manager.save(self.epochs_trained, variable_arrays(self._checkpoint_groups()),
                         self._checkpoint_state(blobs), blobs=blobs)
            report(manager.directory)

    def _show_best(self, network: Any) -> None:
        """After fit: the best weights go into the network, the last ones are kept aside."""
        import numpy as np

        if self._best.arrays:
            self._last_weights = [np.array(w) for w in network.weights]
            self._best.restore_into(network.weights)
            self._hash = None

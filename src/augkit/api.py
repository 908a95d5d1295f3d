"""Entry points that take what a user types (names, paths) and build the objects the engine
works with. The CLI calls these; scripts may too."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from augkit import engines
from augkit.expand import auto
from augkit.expand.options import ExpandOptions, read_options_for
from augkit.expand.run import ExpandResult, expand_dataset, is_volume_dataset, volume_generator_message
from augkit.expand.staging import check_paths
from augkit.io import read_dataset
from augkit.engines.base import Engine
from augkit.errors import DataError, UsageError
from augkit.generators.contract import Generator, condition_for
from augkit.tables.patients import patient_rows, patient_table
from augkit.transforms.pipeline import ClassicalPipeline, load_config


def pipeline_from(preset: str | None) -> ClassicalPipeline:
    """A preset name, a preset file, or None for the seeds' default set."""
    if preset is None:
        return ClassicalPipeline()
    if Path(preset).suffix.lower() in (".yaml", ".yml", ".json"):
        return ClassicalPipeline(config=load_config(preset))
    return ClassicalPipeline(preset=preset)


def default_out_dir(in_dir: Path, target: int) -> Path:
    return in_dir.resolve().parent / f"{in_dir.resolve().name}_x{target}"


def expand_folder(in_dir: str | Path, target: int, out_dir: str | Path | None = None,
                  **options: Any) -> ExpandResult:
    """``augkit expand`` from Python, with the command's options as keywords (the fields of
    ``ExpandOptions``, plus ``unit``/``slices``, ``shard="i/k"``, ``engine="ray"`` and the
    engine's ``address``, ``num_workers``, ``chunk_size``, ``gpus_per_worker``)."""
    return expand_with(in_dir, ExpandOptions.build(target, **options), out_dir)


def expand_with(in_dir: str | Path, options: ExpandOptions, out_dir: str | Path | None = None) -> ExpandResult:
    """Run ``options`` on ``in_dir``: read the dataset once, build the classical pipeline from
    the preset, load the model (or train one on the same reals first, seed 001's workflow),
    and hand all of it to the run. Everything that can be refused is refused before a model
    is trained."""
    in_dir = Path(in_dir)
    out_dir = Path(out_dir) if out_dir is not None else default_out_dir(in_dir, options.target)
    engines.check(options.engine)  # a missing Ray and an address where no cluster answers
    pipeline = pipeline_from(options.preset)
    check_paths(in_dir, out_dir, options.overwrite)
    dataset = read_dataset(in_dir, format=options.format, **options.read_options)  # volumes: nothing loaded yet
    note = ""
    if options.generator == auto.AUTO:
        choice = auto.choose(dataset, volumes=is_volume_dataset(dataset))
        options, note = dataclasses.replace(options, generator=choice.generator), f"generator auto: {choice.reason}"
    gen = None
    if options.generator is not None:
        from augkit.registry.host import get_generator

        volumes = is_volume_dataset(dataset)
        if volumes and not get_generator(options.generator).volumes:  # before a model is loaded or trained
            raise UsageError(volume_generator_message(options.generator, in_dir))
        if volumes and options.model_dir is not None:
            raise UsageError(f"generator {options.generator!r} on whole cases is fitted on the cases themselves; "
                             "leave out --model.")
        if options.model_dir is not None:
            gen = load_model(options.model_dir, options.generator)
        else:
            gen = get_generator(options.generator)(**options.train_options)
            gen.fit(dataset.samples, seed=options.seed, progress=options.progress)
    result = expand_dataset(in_dir, out_dir, options, dataset=dataset, pipeline=pipeline, generator=gen)
    return dataclasses.replace(result, generator_note=note)


def load_model(model_dir: str | Path, generator: str | None = None):
    """Load a saved generator. ``generator``: the name the user gave (``--generator``), whose
    plugin then refuses a folder another generator wrote; None: the name in the folder's
    ``config.json``."""
    from augkit.generators.contract import saved_generator_name
    from augkit.registry.host import get_generator

    if generator is None:
        generator = saved_generator_name(model_dir)
    return get_generator(generator).load(model_dir)


def train_generator(in_dir: str | Path, generator: str, out_dir: str | Path, *,
                    profile: str | None = None, epochs: int | None = None,
                    val_dir: str | Path | None = None, seed: int = 0, format: str | None = None,
                    slices: str | None = None, overrides: dict[str, Any] | None = None,
                    overwrite: bool = False, progress: bool = True, unit: str | None = None,
                    read_options: dict[str, Any] | None = None,
                    val_read_options: dict[str, Any] | None = None, strategy: str = "default"):
    """Train ``generator`` on the real samples in ``in_dir`` and save it to ``out_dir``.

    ``read_options``: the input format's options (tabimage: ``table``, ``id_column``, ...), for
    ``val_dir`` too unless ``val_read_options`` replaces some (the validation patients' table).

    Checkpoints go to ``out_dir/checkpoints`` every epoch; running the same command again after
    a kill resumes from the newest one. Returns the trained generator. ``strategy``:
    ``default`` (one device), ``mirrored`` (every GPU here) or ``multiworker`` (the machines in
    ``TF_CONFIG``; only the chief writes ``out_dir``), see ``augkit.generators.distribute``.
    """
    import shutil

    from augkit.generators import distribute
    from augkit.io import read_dataset
    from augkit.registry.host import get_generator, registry

    from augkit.outputs import OutputLock, absolute, check_output, check_writable_parent

    out_dir = absolute(out_dir)
    cls = get_generator(generator)  # unknown names fail before any reading
    distribute.check_strategy(strategy)
    if strategy != "default" and not cls.distributable:
        able = ", ".join(sorted(n for n, c in registry().generators.items() if c.distributable))
        raise UsageError(f"generator {generator!r} trains on one device only; --strategy {strategy} is "
                         f"for {able}. Fix: leave --strategy out.")
    if not distribute.is_chief(strategy):
        # another worker of a multi-worker training: same steps, its writes kept out of out_dir
        out_dir = out_dir.parent / f".{out_dir.name}.augkit-worker-{distribute.worker_task()[1]}"
    checkpoints = out_dir / "checkpoints"
    resuming = checkpoints.is_dir()  # an interrupted training: resumed, nothing replaced
    if not resuming and (out_dir / "config.json").exists() and not overwrite:
        raise UsageError(f"{out_dir}: holds a finished model; choose another --out or pass --overwrite.")
    # --overwrite replaces only a model augkit saved (or an empty folder).
    check_output(out_dir, overwrite, foreign=_foreign_in_model, replaces=not resuming)
    check_writable_parent(out_dir)
    read_options = read_options_for(unit, slices, read_options)
    train = read_dataset(in_dir, format=format, **read_options)
    from augkit.expand.run import is_volume_dataset

    if is_volume_dataset(train):
        raise UsageError(f"generator {generator!r} trains on 2D slices and {in_dir} holds 3D cases; "
                         "add --unit slice to train on axial slices.")
    val = read_dataset(val_dir, format=format, **{**read_options, **(val_read_options or {})}) \
        if val_dir else None
    kwargs = dict(overrides or {})
    if profile:
        kwargs["profile"] = profile
    model = cls(seed=seed, **kwargs)
    check_writable_parent(out_dir, create=True)
    with OutputLock(out_dir, command="train"), distribute.training_strategy(strategy):
        check_output(out_dir, overwrite, foreign=_foreign_in_model, replaces=not checkpoints.is_dir())
        if not checkpoints.is_dir() and out_dir.exists() and any(out_dir.iterdir()):
            shutil.rmtree(out_dir)
        model.fit(train.samples, val_samples=None if val is None else val.samples, epochs=epochs,
                  seed=seed, checkpoint_dir=checkpoints, progress=progress)
        model.save(out_dir)
        # The saved model is complete; per-epoch checkpoints (hundreds of MB) only served resuming.
        shutil.rmtree(checkpoints, ignore_errors=True)
    if not distribute.is_chief(strategy):
        shutil.rmtree(out_dir, ignore_errors=True)  # the chief saved the model
    return model


_MODEL_SUFFIXES = (".h5", ".keras", ".json", ".png", ".csv", ".npz", ".npy")


def _foreign_in_model(folder: Path) -> list[str] | None:
    """Entries a saved model does not hold (config.json naming a generator, weight files,
    checkpoints, training plots); None when the folder holds no augkit model."""
    try:
        if "generator" not in json.loads((folder / "config.json").read_text()):
            return None
    except (OSError, ValueError, TypeError):
        return None
    return sorted(p.name for p in folder.iterdir()
                  if not (p.name in ("checkpoints", "samples") and p.is_dir())
                  and not (p.is_file() and p.name.endswith(_MODEL_SUFFIXES) and not p.name.startswith(".")))


def mask_conditions(real_dir: str | Path, seed: int, *, format: str | None = None,
                    slices: str | None = None, model: Generator | None = None,
                    read_options: dict[str, Any] | None = None):
    """index -> a new mask: the real masks in turn, each through a seeded label-safe geometric
    transform, the same way ``expand`` makes masks for a segmentation generator. With ``model``,
    every real mask is checked first against what it was trained on (size, label values).
    ``read_options``: the folder format's read options (e.g. ``labels="as-is"``)."""
    from augkit.io import read_slices
    from augkit.seeding import derive_seed

    reals = read_slices(real_dir, format=format, **read_options_for(None, slices, read_options)).samples
    if any(s.mask is None for s in reals):
        raise UsageError(f"{real_dir}: --conditions needs a segmentation dataset (images with masks).")
    if model is not None:
        check_conditions(model, reals, real_dir)
    geometry = ClassicalPipeline().geometric_only()

    def condition(index: int):
        parent = reals[index % len(reals)]
        image, mask, _ = geometry.apply(parent.image, parent.mask, derive_seed(seed, index))
        return condition_for(model, parent, image, mask)

    return condition


def check_conditions(model: Generator, reals, real_dir: str | Path) -> None:
    """Refuse condition masks the model cannot paint as trained: another H×W than its training
    masks (the samples would come out in that size) or label values it never saw."""
    def where(sample) -> Path:
        files = sample.meta.get("source_files") or []
        return Path(files[-1]) if files else Path(real_dir) / str(sample.id)

    expected = getattr(getattr(model, "spec", None), "mask_shape", None)
    for sample in reals:
        shape = tuple(sample.mask.shape)
        if expected is not None and shape != tuple(expected):
            raise DataError(where(sample), f"condition mask is {'×'.join(map(str, shape))} but the "
                            f"{model.name} model was trained on {expected[0]}×{expected[1]} masks",
                            "give --conditions masks of the training size (e.g. the training folder)")
        try:
            model.generate(1, seed=0, conditions=[condition_for(model, sample)])  # validates, paints nothing
        except UsageError as exc:
            raise DataError(where(sample), f"condition mask refused: {str(exc).rstrip('.')}") from None


def generate_folder(model_dir: str | Path, num_samples: int, out_dir: str | Path, *, seed: int = 0,
                    conditions_dir: str | Path | None = None, shard_size: int = 10_000,
                    batch_size: int = 256, shards: list[int] | None = None, progress: bool = True,
                    read_options: dict[str, Any] | None = None,
                    drop_near_copies_of: str | Path | None = None, format: str | None = None,
                    engine: Engine | str | None = None, **engine_options: Any):
    """Generate ``num_samples`` from a saved model into shard folders (``augkit.generate.bulk``).
    ``read_options`` (and ``format``) read ``conditions_dir`` and ``drop_near_copies_of``: real
    samples with table rows (e.g. the training folder of a tabimage model); a generated row that
    is a near copy of one of their rows is not written (``NearestRecord``'s threshold, as
    ``expand --drop-near-copies``). ``engine``: ``local`` (default) or ``ray`` (one
    shard per task; options as for ``expand_folder`` but ``chunk_size``)."""
    from augkit.generate.bulk import check_engine, generate_shards
    from augkit.outputs import refuse_unsafe_output

    engine = check_engine(Engine.of(engine, **engine_options))
    engines.check(engine)
    refuse_unsafe_output(out_dir)
    model = load_model(model_dir)
    conditions = None
    if "segmentation" in model.tasks:
        if conditions_dir is None:
            raise UsageError(f"{model.name} paints images for masks; pass --conditions DIR with real "
                             "masks (e.g. the training folder).")
        conditions = mask_conditions(conditions_dir, seed, format=format, model=model, read_options=read_options)
    elif conditions_dir is not None:
        raise UsageError(f"{model_dir}: the {model.name} model ({'/'.join(sorted(model.tasks))}) makes "
                         f"samples from noise and takes no --conditions; received --conditions "
                         f"{conditions_dir}. Fix: leave --conditions out.")
    drop_rows = None
    if drop_near_copies_of is not None:
        from augkit.evaluate.table_privacy import NearestRecord

        reals = read_dataset(drop_near_copies_of, format=format, **(read_options or {})).samples
        if not reals or any(s.features is None for s in reals):
            raise UsageError(f"{drop_near_copies_of}: --drop-near-copies needs real samples with table rows "
                             "(e.g. the tabimage training folder with its --read-option table=...).")
        drop_rows = NearestRecord(*patient_rows(reals))
    return generate_shards(model, num_samples, out_dir, seed=seed, shard_size=shard_size,
                           batch_size=batch_size, conditions=conditions, progress=progress,
                           shards=shards, engine=engine, drop_rows=drop_rows)


def _synthetic_part(path: Path):
    """An ``expand`` output holds real samples too: only its non-real ones are synthetic."""
    from augkit.io import read_slices

    if (path / "manifest.csv").exists():
        from augkit.sampling.sources import split_expanded

        return split_expanded(path)[1]
    return read_slices(path).samples


def evaluate_folders(real_dir: str | Path, synthetic_dir: str | Path, out_dir: str | Path, *,
                     target: str | list[str] | None = None, near_copy_threshold: float | None = None,
                     seed: int = 0, table_only: bool = False,
                     sources: list[str] | None = None, test_dir: str | Path | None = None,
                     read_options: dict[str, Any] | None = None,
                     test_read_options: dict[str, Any] | None = None,
                     format: str | None = None) -> dict[str, Any]:
    """Compare a synthetic folder with a real one. Images are compared when both hold images;
    patient tables too when both samples carry feature rows. Reports land in ``out_dir``.

    ``real_dir`` holds the real samples the generator was trained on; ``target`` (the table's
    utility check) needs ``test_dir``: real samples of other patients, which neither the
    generator nor the real baseline saw (a patient in both folders is refused).
    ``read_options`` (and ``format``) read ``real_dir`` and ``test_dir``;
    ``test_read_options`` replaces some of them for ``test_dir`` (its own ``table=``)."""
    import pandas as pd

    from augkit.io import read_slices
    from augkit.outputs import refuse_unsafe_output

    refuse_unsafe_output(out_dir)
    targets = [target] if isinstance(target, str) else list(target or [])
    if targets and test_dir is None:
        raise UsageError("--target needs --test DIR: real samples of patients that neither the generator "
                         "nor the real baseline saw (e.g. the test split), read like --real.")
    options = dict(read_options or {})
    real = read_slices(real_dir, format=format, **options).samples
    test = read_slices(test_dir, format=format, **{**options, **(test_read_options or {})}).samples \
        if test_dir is not None else None
    if test is not None:
        _refuse_shared_patients(real, test, real_dir, test_dir)
    synthetic = _synthetic_part(Path(synthetic_dir))
    if sources:
        synthetic = [s for s in synthetic if s.provenance.source in sources]
    if not synthetic:
        wanted = f" of source {', '.join(sources)}" if sources else ""
        raise UsageError(f"{synthetic_dir}: holds no synthetic samples{wanted} to evaluate.")
    out_dir = Path(out_dir)
    results: dict[str, Any] = {}
    has_tables = all(s.features for s in real) and all(s.features for s in synthetic)
    if targets and not has_tables:
        raise UsageError(f"--target {targets[0]} checks table rows, but {real_dir if not all(s.features for s in real) else synthetic_dir} "
                         "holds samples without a table row. Fix: read the real folder with its table "
                         "(--format tabimage --read-option table=...).")
    if has_tables:
        from augkit.evaluate.table_report import evaluate_tables

        real_df = patient_table(real)
        synth_df = pd.DataFrame([s.features for s in synthetic])
        test_df = patient_table(test) if test is not None and all(s.features for s in test) else None
        if targets and test_df is None:
            raise UsageError(f"{test_dir}: its samples have no table rows; read it with its table "
                             "(--test-read-option table=...).")
        results["table"] = evaluate_tables(real_df, synth_df, out_dir / "table" if not table_only else out_dir,
                                           target=targets or None, test_df=test_df, seed=seed)
    if not table_only:
        from augkit.evaluate import evaluate_images

        results["images"] = evaluate_images(real, synthetic, out_dir / "images" if has_tables else out_dir,
                                            near_copy_threshold=near_copy_threshold, seed=seed)
    return results


def _refuse_shared_patients(real, test, real_dir, test_dir) -> None:
    shared = sorted({s.group for s in real} & {s.group for s in test})
    if shared:
        raise DataError(test_dir, f"{len(shared)} patient(s) are in --real {real_dir} too ({', '.join(shared[:5])}"
                        f"{' ...' if len(shared) > 5 else ''}); the utility test would score on seen patients",
                        "give --test a folder of other patients")

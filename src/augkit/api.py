"""Entry points that take what a user types (names, paths) and build the objects the engine
works with. The CLI calls these; scripts may too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from augkit.engine import ExpandResult, Shard, expand
from augkit.errors import UsageError
from augkit.transforms import ClassicalPipeline, load_config


def pipeline_from(preset: str | None) -> ClassicalPipeline:
    """A preset name, a preset file, or None for the seeds' default set."""
    if preset is None:
        return ClassicalPipeline()
    if Path(preset).suffix.lower() in (".yaml", ".yml", ".json"):
        return ClassicalPipeline(config=load_config(preset))
    return ClassicalPipeline(preset=preset)


def default_out_dir(in_dir: Path, target: int) -> Path:
    return in_dir.resolve().parent / f"{in_dir.resolve().name}_x{target}"


def load_generator(name: str, model_dir: str | Path):
    from augkit.plugins import get_generator

    return get_generator(name).load(model_dir)


def expand_folder(in_dir: str | Path, target: int, out_dir: str | Path | None = None, *,
                  seed: int = 0, format: str | None = None, preset: str | None = None,
                  slices: str | None = None, generator: str | None = None,
                  model_dir: str | Path | None = None, gan_fraction: float = 0.5,
                  shard: str | None = None, overwrite: bool = False,
                  progress: bool = True, train_options: dict[str, Any] | None = None,
                  drop_near_copies: float | None = None) -> ExpandResult:
    in_dir = Path(in_dir)
    out_dir = Path(out_dir) if out_dir is not None else default_out_dir(in_dir, target)
    read_options = {"slices": slices} if slices else {}
    gen = None
    dataset = None
    if generator and generator != "none":
        if model_dir is not None:
            gen = load_generator(generator, model_dir)
        else:
            # No model given: train one on the same real samples first (seed 001's workflow).
            from augkit.engine import _check_paths
            from augkit.io import read_dataset
            from augkit.plugins import get_generator

            _check_paths(in_dir, out_dir, overwrite)  # fail before minutes of training
            dataset = read_dataset(in_dir, format=format, **read_options)
            gen = get_generator(generator)(**(train_options or {}))
            gen.fit(dataset.samples, seed=seed, progress=progress)
    elif model_dir is not None:
        raise UsageError("--model needs --generator NAME (the generator that made the model).")
    return expand(
        in_dir, target, out_dir, seed=seed, format=format, read_options=read_options,
        pipeline=pipeline_from(preset), generator=gen, gan_fraction=gan_fraction,
        shard=Shard.parse(shard) if shard else None, overwrite=overwrite, progress=progress,
        dataset=dataset, drop_near_copies=drop_near_copies,
    )


def _parse_overrides(pairs: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """``key=value`` strings from ``--set``; values parsed as JSON when they can be."""
    import json

    overrides = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--set takes key=value (e.g. --set epochs=50). Received: {pair!r}")
        try:
            overrides[key] = json.loads(value)
        except ValueError:
            overrides[key] = value
    return overrides


def load_model(model_dir: str | Path):
    """Load any saved generator: its ``config.json`` names the generator that wrote it."""
    import json

    from augkit.errors import ModelError
    from augkit.plugins import get_generator

    config = Path(model_dir) / "config.json"
    try:
        name = json.loads(config.read_text())["generator"]
    except FileNotFoundError:
        raise ModelError(f"{model_dir}: no saved model here (config.json missing). Fix: give a "
                         "folder written by `augkit train`.") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"{config}: unreadable model config ({exc}). Fix: train the model again.") from None
    return get_generator(name).load(model_dir)


def train_generator(in_dir: str | Path, generator: str, out_dir: str | Path, *,
                    profile: str | None = None, epochs: int | None = None,
                    val_dir: str | Path | None = None, seed: int = 0, format: str | None = None,
                    slices: str | None = None, overrides: dict[str, Any] | None = None,
                    overwrite: bool = False, progress: bool = True):
    """Train ``generator`` on the real samples in ``in_dir`` and save it to ``out_dir``.

    Checkpoints go to ``out_dir/checkpoints`` every epoch; running the same command again after
    a kill resumes from the newest one. Returns the trained generator.
    """
    import shutil

    from augkit.io import read_dataset
    from augkit.plugins import get_generator

    out_dir = Path(out_dir)
    cls = get_generator(generator)  # unknown names fail before any reading
    if (out_dir / "config.json").exists() and not (out_dir / "checkpoints").exists():
        if not overwrite:
            raise UsageError(f"{out_dir}: holds a finished model; choose another --out or pass --overwrite.")
        shutil.rmtree(out_dir)
    elif out_dir.exists() and any(out_dir.iterdir()) and not (out_dir / "checkpoints").exists() and not overwrite:
        raise UsageError(f"{out_dir}: exists and is not a model folder; choose another --out or pass --overwrite.")
    read_options = {"slices": slices} if slices else {}
    train = read_dataset(in_dir, format=format, **read_options)
    val = read_dataset(val_dir, format=format, **read_options) if val_dir else None
    kwargs = dict(overrides or {})
    if profile:
        kwargs["profile"] = profile
    model = cls(seed=seed, **kwargs)
    checkpoints = out_dir / "checkpoints"
    model.fit(train.samples, val_samples=None if val is None else val.samples, epochs=epochs,
              seed=seed, checkpoint_dir=checkpoints, progress=progress)
    model.save(out_dir)
    return model

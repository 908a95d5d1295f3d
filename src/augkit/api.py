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
                  progress: bool = True, train_options: dict[str, Any] | None = None) -> ExpandResult:
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
        dataset=dataset,
    )

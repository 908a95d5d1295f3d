"""The ``augkit`` command line: a thin click layer over the library. Each command's docstring is
its help; domain errors become one-line messages with exit status 2, never tracebacks."""

from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path
from typing import Any

import click

# TensorFlow's C++ start-up chatter (oneDNN notices) is noise on a command line.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from augkit import __version__
from augkit.errors import AugkitError, UsageError


class AugkitCLIError(click.ClickException):
    exit_code = 2


def existing_folder(ctx, param, value):
    """Click callback for an input folder: a missing one is refused in one line naming the flag
    (or argument) the user gave it with."""
    if value is not None and not Path(value).exists():
        flag = param.opts[0] if param.param_type_name == "option" else f"the {param.name.upper()} argument"
        raise AugkitCLIError(f"{value}: folder does not exist. Fix: check the path given to {flag}.")
    return value


def parse_read_options(pairs, flag: str = "--read-option") -> dict[str, str]:
    """``KEY=VALUE`` strings → a dict of read options. Values stay strings (a path, a regular
    expression such as ``[0-9]+``); each format parses its own (``channels=0,2``)."""
    options: dict[str, str] = {}
    for pair in pairs or ():
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"{flag} takes KEY=VALUE (e.g. {flag} table=patients.csv). Received: {pair!r}")
        if key in options:
            raise UsageError(f"{flag} {key}= is given twice ({options[key]!r} and {value!r}); give it once.")
        options[key] = value
    return options


def parse_overrides(pairs: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """``key=value`` strings from ``--set``; values parsed as JSON when they can be."""
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


def domain_errors(func):
    """Turn augkit's own exceptions into a one-line message and exit status 2."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except AugkitError as exc:
            raise AugkitCLIError(str(exc)) from None

    return wrapper


def engine_options(chunks: bool):
    """--engine and the Ray options, shared by expand and generate."""
    def decorate(func):
        options = [
            click.option("--engine", "engine_name", type=click.Choice(["local", "ray"]), default="local",
                         show_default=True, help="Run here, or as tasks on a Ray cluster (pip install "
                         "-e \".[ray]\"); same bytes either way."),
            click.option("--address", default=None,
                         help="Ray: cluster address (e.g. 10.0.0.1:6379 from `ray start --head`); "
                              "default RAY_ADDRESS, else a local cluster for this run."),
            click.option("--num-workers", type=click.IntRange(min=1), default=None,
                         help="Ray: tasks at a time (default: one per CPU, or per --gpus-per-worker)."),
            click.option("--gpus-per-worker", type=click.FloatRange(min=0), default=None,
                         help="Ray: GPUs each task holds (e.g. 1, or 0.5 to share one)."),
        ]
        if chunks:
            options.append(click.option("--chunk-size", type=click.IntRange(min=1), default=None,
                                        help="Ray: output indices per task (default: ~8 chunks per worker)."))
        for option in reversed(options):
            func = option(func)
        return func
    return decorate


def engine_settings(engine_name, address, num_workers, gpus_per_worker, chunk_size=None):
    settings = {"address": address, "num_workers": num_workers, "chunk_size": chunk_size}
    if gpus_per_worker is not None:
        settings["gpus_per_worker"] = gpus_per_worker
    return {"engine": engine_name, **settings}


def read_option(name: str = "--read-option", dest: str = "read_options", *, what: str = "the input"):
    """``--read-option KEY=VALUE`` (repeatable): a read option of the input's format, as the
    README's format table lists them (tabimage: table, id_column, id_pattern, image_glob,
    label_column, drop_columns, channels; paired2d: labels)."""
    return click.option(
        name, dest, multiple=True, metavar="KEY=VALUE",
        help=f"Read option for {what} (repeatable), e.g. --format tabimage --read-option "
             "table=patients.csv --read-option id_column=Patient; see the formats table in the README.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="augkit")
def cli():
    """augkit: grow small labelled medical datasets with classical transforms and GANs."""


@cli.command()
@click.option("--in", "in_dir", required=True, type=click.Path(path_type=Path),
              help="Folder of real labelled samples (format detected).")
@click.option("--to", "target", required=True, type=click.IntRange(min=1),
              help="Total number of samples wanted, real ones included.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path),
              help="Output folder (default: <in>_x<to> beside the input).")
@click.option("--seed", default=0, show_default=True, type=int, help="Run seed; same seed, same bytes.")
@click.option("--format", "format_name", default=None, help="Force the input format (see `augkit plugins`).")
@click.option("--preset", default=None,
              help="Transform preset name (seed, geometric, strong) or a YAML/JSON preset file.")
@click.option("--unit", type=click.Choice(["case", "slice"]), default=None,
              help="NIfTI only: 'case' (default for 3D volumes) expands whole cases, N cases in, "
                   "--to cases out, every modality and the seg, affine and header kept; 'slice' "
                   "cuts axial slices (the 2D flow: --to counts slices, GAN generators work).")
@click.option("--slices", type=click.Choice(["tumour", "all", "one"]), default=None,
              help="With --unit slice (implies it): which axial slices become samples: those with "
                   "a label (tumour, default), all, or one per case (the largest labelled area).")
@click.option("--generator", "generator_name", default="auto", show_default=True,
              help="Generator to mix in: a name (see `augkit plugins`), 'none' for classical only, "
                   "or 'auto': lesion transplant (lesionmix) on 2D sets with lesion masks, where it "
                   "raised test Dice by +0.10 over classical alone, classical only elsewhere.")
@click.option("--model", "model_dir", type=click.Path(path_type=Path), default=None,
              help="Trained generator folder (from `augkit train`); trained first when omitted.")
@click.option("--gan-fraction", default=0.5, show_default=True, type=click.FloatRange(0, 1),
              help="Share of the added samples painted by the generator.")
@click.option("--gan-region", type=click.Choice(["image", "lesion"]), default="image", show_default=True,
              help="Masked data: the GAN paints the whole image, or only the lesion, blended into "
                   "the real image under the same geometric transform.")
@click.option("--shard", default=None,
              help="Produce only part i of k (e.g. 0/4), each into its own --out; `augkit merge` joins them.")
@click.option("--drop-near-copies", type=click.FloatRange(0, 1), is_flag=False, flag_value=0.95,
              default=None, metavar="[THRESHOLD]",
              help="Repaint GAN samples whose NCC with a real image is >= THRESHOLD (0.95 if no "
                   "value), or (image + table data) whose row is closer to a real row than the real "
                   "rows' 5 % nearest neighbours, dropping them after 4 tries; listed in "
                   "near_copies.csv.")
@click.option("--balance/--no-balance", default=None,
              help="Bring every class to the same count (default: on for class-labelled data).")
@click.option("--overwrite", is_flag=True,
              help="Replace an earlier augkit output (or an empty folder); other folders are refused.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@read_option()
@engine_options(chunks=True)
@domain_errors
def expand(in_dir, target, out_dir, seed, format_name, preset, unit, slices, generator_name, model_dir,
           gan_fraction, gan_region, shard, drop_near_copies, balance, overwrite, quiet, engine_name,
           address, num_workers, gpus_per_worker, chunk_size, read_options):
    """Expand the dataset in --in to --to samples: the real ones plus classical variants (and
    GAN samples with --generator), in the input's format, with a manifest.csv of provenance.

    NIfTI volumes (BraTS case folders, image/label volumes) are expanded case by case: 30 cases
    --to 300 writes 270 new whole cases. --unit slice expands axial slices instead (the 2D
    flow, which GAN generators need)."""
    from augkit.api import expand_with
    from augkit.expand.options import ExpandOptions

    options = ExpandOptions.build(
        target, seed=seed, format=format_name, preset=preset, unit=unit, slices=slices,
        read_options=parse_read_options(read_options), generator=generator_name, model_dir=model_dir,
        gan_fraction=gan_fraction, gan_region=gan_region, drop_near_copies=drop_near_copies,
        balance=balance, shard=shard, overwrite=overwrite, progress=not quiet,
        **engine_settings(engine_name, address, num_workers, gpus_per_worker, chunk_size),
    )
    result = expand_with(in_dir, options, out_dir)
    if result.generator_note:
        click.echo(result.generator_note)
    mix = ", ".join(f"{k} {v}" for k, v in sorted(result.counts.items()))
    click.echo(f"wrote {result.num_samples} samples ({mix}) to {result.out_dir} "
               f"in {result.seconds:.1f} s")
    if result.near_copies:
        click.echo(f"{result.near_copies} GAN attempts were near-copies of real images; "
                   f"{result.dropped} indices dropped (see near_copies.csv)")


@cli.command()
@click.argument("parts", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path),
              help="Folder for the joined output.")
@click.option("--overwrite", is_flag=True, help="Replace an earlier augkit output in --out.")
@domain_errors
def merge(parts, out_dir, overwrite):
    """Join the --out folders of `expand --shard i/k` runs (run at the same time, one --out
    each) into one output: the same bytes as one run without --shard. The parts are kept;
    files are hard-linked from them where the filesystem allows."""
    from augkit.expand.merge import merge_shards

    result = merge_shards(parts, out_dir, overwrite=overwrite)
    mix = ", ".join(f"{k} {v}" for k, v in sorted(result.counts.items()))
    click.echo(f"merged {len(parts)} parts: {result.num_samples} samples ({mix}) in {result.out_dir}")


@cli.command()
@click.argument("directory", type=click.Path(path_type=Path), callback=existing_folder)
@click.option("--format", "format_name", default=None, help="Force the format.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@read_option(what="the folder")
@domain_errors
def info(directory, format_name, as_json, read_options):
    """Describe a dataset folder: format, counts, shapes, dtypes, label values."""
    from augkit.io.info import describe, format_description, read_for_info

    summary = describe(read_for_info(directory, format=format_name, **parse_read_options(read_options)))
    click.echo(json.dumps(summary, indent=2, default=str) if as_json else format_description(summary))


@cli.command()
@click.argument("out_dir", type=click.Path(path_type=Path), default=Path("augkit-demo"))
@click.option("--cases", default=30, show_default=True, type=click.IntRange(min=1))
@click.option("--size", default=128, show_default=True, type=click.IntRange(min=32))
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--overwrite", is_flag=True)
@domain_errors
def demo(out_dir, cases, size, seed, overwrite):
    """Write the built-in demo dataset (MRI-like slices with tumour masks, LGG layout)."""
    from augkit.io.demo import write_demo

    path = write_demo(out_dir, num_cases=cases, size=size, seed=seed, overwrite=overwrite)
    click.echo(f"wrote {cases} demo cases to {path}")


@cli.command()
@click.option("--in", "in_dir", required=True, type=click.Path(path_type=Path),
              help="Folder of real training samples.")
@click.option("--generator", "generator_name", required=True, help="Generator plugin name (see `augkit plugins`).")
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path),
              help="Model folder to write (checkpoints go to OUT/checkpoints).")
@click.option("--profile", default=None, help="Size profile: cpu (default), paper, tiny.")
@click.option("--epochs", default=None, type=click.IntRange(min=1), help="Total epochs (profile default).")
@click.option("--val", "val_dir", default=None, type=click.Path(path_type=Path), callback=existing_folder,
              help="Validation folder: best weights are kept by validation loss.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--format", "format_name", default=None)
@click.option("--unit", type=click.Choice(["case", "slice"]), default=None,
              help="NIfTI only: generators train on axial slices, so 3D volumes need --unit slice.")
@click.option("--slices", type=click.Choice(["tumour", "all", "one"]), default=None)
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override one profile setting (repeatable), e.g. --set l1_weight=50.")
@click.option("--backbone-weights", type=click.Path(path_type=Path), default=None,
              help="tlgan: ImageNet weights file (.h5) of the frozen backbone, or 'imagenet' to let Keras "
                   "fetch its own into its cache (~/.keras/models, hash-checked); nothing downloads otherwise.")
@click.option("--random-backbone", is_flag=True,
              help="tlgan: train against a randomly initialised backbone instead (weak, for trials).")
@click.option("--overwrite", is_flag=True, help="Replace a finished model in --out.")
@click.option("--strategy", type=click.Choice(["default", "mirrored", "multiworker"]), default="default",
              show_default=True,
              help="tf.distribute: one device, every GPU here (mirrored), or the machines in "
                   "TF_CONFIG (multiworker); the global batch is split over the replicas (pix2pix).")
@click.option("--quiet", is_flag=True)
@read_option(what="--in (and --val)")
@read_option("--val-read-option", "val_read_options", what="--val only, replacing the same key of "
             "--read-option (e.g. the validation patients' table=)")
@domain_errors
def train(in_dir, generator_name, out_dir, profile, epochs, val_dir, seed, format_name, unit, slices,
          overrides, backbone_weights, random_backbone, overwrite, strategy, quiet, read_options,
          val_read_options):
    """Train a generator on real samples and save it. Rerun after an interruption to resume
    from the last checkpoint."""
    from augkit.api import train_generator

    if val_read_options and val_dir is None:
        raise AugkitCLIError("--val-read-option applies to --val DIR; give --val or leave it out.")
    settings = parse_overrides(overrides)
    if backbone_weights is not None:
        settings["backbone_weights"] = str(backbone_weights)
    if random_backbone:
        settings["random_backbone"] = True
    model = train_generator(in_dir, generator_name, out_dir, profile=profile, epochs=epochs,
                            val_dir=val_dir, seed=seed, format=format_name, slices=slices,
                            overrides=settings, overwrite=overwrite,
                            progress=not quiet, unit=unit, strategy=strategy,
                            read_options=parse_read_options(read_options),
                            val_read_options=parse_read_options(val_read_options, "--val-read-option"))
    click.echo(f"trained {generator_name} ({model.checkpoint_hash}) saved to {out_dir}")


@cli.command()
@click.option("--model", "model_dir", required=True, type=click.Path(path_type=Path),
              help="Saved generator folder (from `augkit train`).")
@click.option("--n", "num_samples", required=True, type=click.IntRange(min=1), help="How many samples.")
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path))
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--conditions", "conditions_dir", default=None, type=click.Path(path_type=Path),
              help="Segmentation generators: folder of real masks to paint for.")
@click.option("--shard-size", default=10_000, show_default=True, type=click.IntRange(min=1))
@click.option("--batch-size", default=256, show_default=True, type=click.IntRange(min=1))
@click.option("--shards", default=None, help="Only these shard numbers, e.g. 0,3,4 (others elsewhere).")
@click.option("--drop-near-copies", "drop_near_copies_of", default=None, type=click.Path(path_type=Path),
              callback=existing_folder,
              help="Image + table models: folder of the real samples (e.g. the training folder); a "
                   "generated row closer to one of their rows than the real rows' 5 % nearest "
                   "neighbours is not written (listed in the shard's near_copies.csv).")
@click.option("--format", "format_name", default=None, help="Force the format of --drop-near-copies / --conditions.")
@click.option("--quiet", is_flag=True)
@read_option(what="--conditions or --drop-near-copies")
@engine_options(chunks=False)
@domain_errors
def generate(model_dir, num_samples, out_dir, seed, conditions_dir, shard_size, batch_size, shards,
             drop_near_copies_of, format_name, quiet, engine_name, address, num_workers, gpus_per_worker,
             read_options):
    """Generate N samples from a trained model into shard folders (images + one table per
    shard). Memory stays flat; a rerun skips finished shards; each shard is reproducible from
    (seed, shard number), so shards can run on different machines."""
    from augkit.api import generate_folder

    if read_options and conditions_dir is None and drop_near_copies_of is None:
        raise AugkitCLIError("--read-option applies to --conditions DIR or --drop-near-copies DIR; give one "
                             "or leave it out.")
    picked = None
    if shards:
        try:
            picked = [int(x) for x in shards.split(",")]
        except ValueError:
            raise AugkitCLIError(f"--shards takes shard numbers like 0,3,4. Received: {shards!r}") from None
    summary = generate_folder(model_dir, num_samples, out_dir, seed=seed, conditions_dir=conditions_dir,
                              shard_size=shard_size, batch_size=batch_size, shards=picked,
                              progress=not quiet, read_options=parse_read_options(read_options),
                              drop_near_copies_of=drop_near_copies_of, format=format_name,
                              **engine_settings(engine_name, address, num_workers, gpus_per_worker))
    click.echo(json.dumps(summary, indent=2, default=str))


@cli.command()
@click.option("--real", "real_dir", required=True, type=click.Path(path_type=Path), callback=existing_folder)
@click.option("--synthetic", "synthetic_dir", required=True, type=click.Path(path_type=Path), callback=existing_folder,
              help="Synthetic folder: an expand output (its real samples are left out), "
                   "a generate output, or any dataset folder.")
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path))
@click.option("--target", "targets", multiple=True,
              help="Tables: column for the train-synthetic-test-real check (repeatable); needs --test.")
@click.option("--test", "test_dir", default=None, type=click.Path(path_type=Path), callback=existing_folder,
              help="Real samples of held-out patients (neither the generator nor the real baseline "
                   "saw them): the test rows of the --target check.")
@click.option("--format", "format_name", default=None, help="Force the format of --real and --test.")
@click.option("--near-copy-threshold", default=None, type=click.FloatRange(0, 1),
              help="NCC at or above which a synthetic image counts as a near-copy (default 0.95).")
@click.option("--source", "sources", multiple=True,
              type=click.Choice(["classical", "gan", "gan+classical"]),
              help="Only synthetic samples of this source (repeatable), e.g. --source gan.")
@click.option("--seed", default=0, show_default=True, type=int)
@read_option(what="--real and --test")
@read_option("--test-read-option", "test_read_options", what="--test only, replacing the same key of "
             "--read-option (e.g. the test patients' table=)")
@domain_errors
def evaluate(real_dir, synthetic_dir, out_dir, targets, test_dir, format_name, near_copy_threshold, sources,
             seed, read_options, test_read_options):
    """Compare synthetic data with real data: fidelity, diversity, memorisation (images) and
    column statistics, correlations, utility, privacy (tables). Writes PNGs and report.html."""
    from augkit.api import evaluate_folders

    if test_read_options and test_dir is None:
        raise AugkitCLIError("--test-read-option applies to --test DIR; give --test or leave it out.")
    results = evaluate_folders(real_dir, synthetic_dir, out_dir, target=list(targets) or None,
                               near_copy_threshold=near_copy_threshold, seed=seed,
                               sources=list(sources) or None, test_dir=test_dir, format=format_name,
                               read_options=parse_read_options(read_options),
                               test_read_options=parse_read_options(test_read_options, "--test-read-option"))
    for kind, metrics in results.items():
        click.echo(f"{kind}: report in {out_dir}")
    click.echo(json.dumps(_headline(results), indent=2, default=str))


def _headline(results):
    """The few figures worth a glance; everything else is in metrics.json."""
    out = {}
    images = results.get("images")
    if images:
        fid, div, mem = images["fidelity"], images["diversity"], images["memorisation"]
        out["images"] = {
            "frechet": fid["frechet"]["full"], "frechet_real_floor": fid["frechet"]["floor"],
            "kid": fid["kid"]["full"], "kid_real_floor": fid["kid"]["floor"],
            "diversity_ratio_synthetic_over_real": div["feature_ratio"],
            "near_copies": mem["num_near_copies"], "near_copy_threshold": mem["threshold"],
        }
    if results.get("table"):
        table = results["table"]
        out["table"] = {k: v for k, v in table.items() if not isinstance(v, (list, dict))}
        for name, u in (table.get("utility") or {}).items():
            out["table"][f"utility {name}"] = {k: (u.get(k) or {}).get("auc") for k in ("trtr", "tstr")} \
                if "error" not in u else u["error"]
    return out


@cli.command()
@click.option("--json", "as_json", is_flag=True)
def plugins(as_json):
    """List loaded plugins and what each registered (generators, formats, presets)."""
    from augkit.registry.host import get_plugin_manager, load_failures, registry

    pm = get_plugin_manager()
    reg = registry()
    rows = []
    for name, plugin in sorted(pm.list_name_plugin()):
        registered = sorted(f"{kind}:{item}" for (kind, item), owner in reg.origin.items() if owner == name)
        rows.append({"name": name, "module": getattr(plugin, "__name__", repr(plugin)),
                     "registered": registered})
    failures = [{"name": f.name, "value": f.value, "error": f.error} for f in load_failures()]
    if as_json:
        click.echo(json.dumps({"plugins": rows, "failed": failures}, indent=2))
        return
    for row in rows:
        click.echo(f"{row['name']}  ({row['module']})")
        for item in row["registered"]:
            click.echo(f"    {item}")
    for f in failures:
        click.echo(f"FAILED {f['name']} ({f['value']}): {f['error']}")


def _load_plugin_commands() -> None:
    from augkit.registry.host import get_plugin_manager

    get_plugin_manager().hook.register_commands(cli=cli)


try:
    _load_plugin_commands()
except Exception as exc:  # a broken plugin must not break the built-in commands
    print(f"augkit: plugin commands not loaded: {exc}", file=sys.stderr)

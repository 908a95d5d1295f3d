"""Is the sampler ever the bottleneck? Samples/second of each adapter against what the example
U-Net consumes, on the same machine, in one run.

    python benchmarks/sampler_throughput.py [--data ../shared/data/lgg/train30] [--num-samples 480]

Sampler side: lgg/train30 real + its `augkit expand` 30 -> 300 output as the synthetic source
(fraction 0.5), the default classical pipeline applied on the fly, 256×256×3, batch 8, through
(a) ``as_tf_dataset`` and (b) a torch ``DataLoader`` with 2 workers. Consumer side: training
steps/second × batch size of ``examples/train_keras_unet.py``'s U-Net on in-memory batches, and
the same U-Net fed by the tf.data adapter (end to end). Goal: sampler >= 5× the consumer.

Writes benchmarks/results/sampler/sampler_throughput.{json,md}.
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
GOAL = 5.0


def load_example(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def rate(iterable_factory, num_samples: int, repeats: int) -> dict:
    """Samples/second over ``num_samples`` after one warm-up batch; median of ``repeats``."""
    rates = []
    for _ in range(repeats):
        iterator = iter(iterable_factory())
        first = next(iterator)
        done, start = len(first[0]), time.perf_counter()
        for batch in iterator:
            done += len(batch[0])
        rates.append((done - len(first[0])) / (time.perf_counter() - start))
    return {"samples_per_s": statistics.median(rates), "runs": [round(r, 1) for r in rates]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / ".." / "shared" / "data" / "lgg" / "train30")
    parser.add_argument("--num-samples", type=int, default=480, help="samples per adapter run")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--train-steps", type=int, default=8)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "sampler")
    args = parser.parse_args()

    import keras
    import numpy as np
    import tensorflow as tf
    import torch
    from torch.utils.data import DataLoader

    from augkit.expand.run import expand
    from augkit.io import read_dataset
    from augkit.sampling.encoding import Encoder
    from augkit.sampling.sampler import MixedSampler
    from augkit.sampling.sources import FolderSource
    from augkit.sampling.tfdata import as_tf_dataset
    from augkit.sampling.torch import MixedTorchDataset
    from augkit.transforms.pipeline import ClassicalPipeline

    bs, n = args.batch_size, args.num_samples
    real = read_dataset(args.data)
    with tempfile.TemporaryDirectory() as tmp:
        out = expand(args.data, 300, Path(tmp) / "expanded", seed=0, progress=False).out_dir
        synthetic = FolderSource(out)
    sampler = MixedSampler(real, synthetic, synthetic_fraction=0.5, transforms=ClassicalPipeline(),
                           seed=0, epoch_size=n)
    shape = real[0].image.shape
    results: dict = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                                 "python": platform.python_version(), "tensorflow": tf.__version__,
                                 "torch": torch.__version__, "keras": keras.__version__,
                                 "load_average_at_start": [round(v, 2) for v in os.getloadavg()]},
                     "setup": {"data": str(args.data.resolve()), "real": len(real),
                               "synthetic": len(synthetic), "synthetic_fraction": 0.5,
                               "image_shape": list(shape), "batch_size": bs,
                               "samples_per_run": n, "repeats": args.repeats,
                               "transforms": ClassicalPipeline().get_config()}}

    encoder = Encoder(sampler)
    start = time.perf_counter()
    for k in range(min(n, 120)):
        encoder(sampler.get(0, k))
    results["sampler_get_single_thread"] = {"samples_per_s": min(n, 120) / (time.perf_counter() - start)}

    # every repeat is a new epoch, as in training (a repeated epoch would be warned about)
    epochs = itertools.count(1)
    results["tf_data"] = rate(lambda: as_tf_dataset(sampler, batch_size=bs, epoch=next(epochs)),
                              n, args.repeats)
    dataset = MixedTorchDataset(sampler)

    def torch_epoch():
        dataset.set_epoch(next(epochs))
        return DataLoader(dataset, batch_size=bs, num_workers=2, worker_init_fn=dataset.worker_init_fn)

    results["torch_dataloader_2_workers"] = rate(torch_epoch, n, args.repeats)

    example = load_example("train_keras_unet")
    keras.utils.set_random_seed(0)
    model = example.compile_unet(example.build_unet(shape))
    x = np.stack([encoder.image(real[i % len(real)]) for i in range(bs)])
    y = np.stack([encoder.target(real[i % len(real)]) for i in range(bs)])
    for _ in range(2):  # build and trace
        model.train_on_batch(x, y)
    start = time.perf_counter()
    for _ in range(args.train_steps):
        model.train_on_batch(x, y)
    step_s = (time.perf_counter() - start) / args.train_steps
    results["unet_training"] = {"steps_per_s": 1 / step_s, "samples_per_s": bs / step_s,
                                "parameters": int(model.count_params())}

    # End to end: the same U-Net fed by the adapter, against fed from memory.
    steps = args.train_steps
    memory = tf.data.Dataset.from_tensors((x, y)).repeat()
    inputs = (("from_memory", lambda: memory),
              ("from_sampler", lambda: as_tf_dataset(sampler, batch_size=bs, epoch=next(epochs),
                                                     num_epochs=None)))
    timings = {}
    for name, make in inputs:
        # warm up this input; each fit starts its dataset afresh, so the sampler gets new epochs
        model.fit(make(), steps_per_epoch=2, epochs=1, shuffle=False, verbose=0)
        start = time.perf_counter()
        model.fit(make(), steps_per_epoch=steps, epochs=1, shuffle=False, verbose=0)
        timings[name] = bs * steps / (time.perf_counter() - start)
    results["unet_fit_samples_per_s"] = timings

    results["machine"]["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
    consumer = results["unet_training"]["samples_per_s"]
    results["ratio_to_consumer"] = {
        "tf_data": results["tf_data"]["samples_per_s"] / consumer,
        "torch_dataloader_2_workers": results["torch_dataloader_2_workers"]["samples_per_s"] / consumer,
    }
    results["goal"] = {"ratio": GOAL, "met": min(results["ratio_to_consumer"].values()) >= GOAL}

    args.out.mkdir(parents=True, exist_ok=True)
    from augkit.evaluate.provenance import provenance
    results["provenance"] = provenance()  # the code, packages and machine of this result
    (args.out / "sampler_throughput.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "sampler_throughput.md").write_text(markdown(results))
    print(markdown(results))


def markdown(r: dict) -> str:
    c = r["unet_training"]["samples_per_s"]
    ratio = r["ratio_to_consumer"]
    lines = [
        "# Sampler throughput vs. the U-Net it feeds",
        "",
        f"Machine: {r['machine']['cpus']} CPUs, {r['machine']['platform']}; TensorFlow "
        f"{r['machine']['tensorflow']}, torch {r['machine']['torch']}. Data: lgg/train30 "
        f"({r['setup']['real']} real) + expand 30→300 ({r['setup']['synthetic']} synthetic), "
        f"fraction {r['setup']['synthetic_fraction']}, default classical transforms on the fly, "
        f"{'×'.join(map(str, r['setup']['image_shape']))}, batch {r['setup']['batch_size']}, "
        f"{r['setup']['samples_per_run']} samples per run, median of {r['setup']['repeats']}, "
        f"each repeat a new sampler epoch. Load average (1/5/15 min) at start "
        f"{'/'.join(map(str, r['machine']['load_average_at_start']))}, at end "
        f"{'/'.join(map(str, r['machine']['load_average_at_end']))}: other jobs shared the CPUs.",
        "",
        "| | samples/s | × U-Net training |",
        "|---|---:|---:|",
        f"| sampler.get + encode, one thread | {r['sampler_get_single_thread']['samples_per_s']:.0f} | "
        f"{r['sampler_get_single_thread']['samples_per_s'] / c:.1f} |",
        f"| `as_tf_dataset` (AUTOTUNE) | {r['tf_data']['samples_per_s']:.0f} | {ratio['tf_data']:.1f} |",
        f"| torch `DataLoader`, 2 workers | {r['torch_dataloader_2_workers']['samples_per_s']:.0f} | "
        f"{ratio['torch_dataloader_2_workers']:.1f} |",
        f"| U-Net training ({r['unet_training']['parameters']:,} params), in-memory batches | {c:.1f} | 1.0 |",
        "",
        f"End to end (`model.fit`): {r['unet_fit_samples_per_s']['from_sampler']:.1f} samples/s fed by "
        f"the tf.data adapter vs {r['unet_fit_samples_per_s']['from_memory']:.1f} from one in-memory "
        "batch.",
        "",
        f"Goal: both adapters ≥ {r['goal']['ratio']:.0f}× the U-Net's consumption — "
        f"**{'met' if r['goal']['met'] else 'NOT met'}**.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()

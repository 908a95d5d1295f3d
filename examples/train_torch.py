"""Train a tiny PyTorch conv net on real LGG slices mixed with `augkit expand` output.

    pip install -e ".[torch]"
    augkit expand --in ../shared/data/lgg/train30 --to 300 --out lgg300
    python examples/train_torch.py --synthetic lgg300 --epochs 2 --steps 5

Two DataLoader workers share the work without repeating each other's draws: dataset item k is
position k of the sampler's epoch, and set_epoch(e) before each epoch gives a new draw.
"""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_REAL = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "lgg" / "train30"


def tiny_net(in_channels: int, num_classes: int = 2):
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(in_channels, 16, 3, padding=1), nn.ReLU(),
        nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(),
        nn.Conv2d(16, num_classes, 1),
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[1:]))
    parser.add_argument("--real", type=Path, default=DEFAULT_REAL, help="folder of real samples")
    parser.add_argument("--synthetic", type=Path, help="output folder of `augkit expand` (optional)")
    parser.add_argument("--fraction", type=float, default=0.5, help="synthetic share of each batch")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--steps", type=int, default=3, help="steps per epoch (default: few)")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import torch
    from torch.utils.data import DataLoader

    from augkit.io import read_dataset
    from augkit.sampling import FolderSource, MixedSampler
    from augkit.sampling.torch import MixedTorchDataset
    from augkit.transforms.pipeline import ClassicalPipeline

    torch.manual_seed(args.seed)  # the net's initial weights
    real = read_dataset(args.real)
    synthetic = FolderSource(args.synthetic) if args.synthetic else None
    sampler = MixedSampler(real, synthetic, synthetic_fraction=args.fraction, seed=args.seed,
                           transforms=ClassicalPipeline(), epoch_size=args.steps * args.batch_size)
    dataset = MixedTorchDataset(sampler)
    loader = DataLoader(dataset, batch_size=args.batch_size, num_workers=args.workers,
                        worker_init_fn=dataset.worker_init_fn)
    net = tiny_net(real[0].image.shape[-1])
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    print(f"{len(real)} real, {0 if synthetic is None else len(synthetic)} synthetic samples; "
          f"{args.epochs} epochs of {args.steps} steps, {args.workers} workers")
    for epoch in range(args.epochs):
        dataset.set_epoch(epoch)  # before the loader starts its workers for this epoch
        total = 0.0
        for images, masks in loader:
            optimiser.zero_grad()
            loss = loss_fn(net(images), masks)
            loss.backward()
            optimiser.step()
            total += loss.item()
        print(f"epoch {epoch}: mean loss {total / len(loader):.4f}")


if __name__ == "__main__":
    main()

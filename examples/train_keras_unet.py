"""Train a small Keras U-Net on real LGG slices mixed with the synthetic ones `augkit expand` made.

    augkit expand --in ../shared/data/lgg/train30 --to 300 --out lgg300
    python examples/train_keras_unet.py --synthetic lgg300 --epochs 2 --steps 5

Every Keras epoch is a new sampler epoch: a new draw of real/synthetic positions and new
on-the-fly transforms, the same for the same --seed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_REAL = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "lgg" / "train30"


def build_unet(input_shape, num_classes: int = 2, filters: int = 8, depth: int = 3):
    """A small U-Net (seed 001's segmenter, scaled down): conv blocks, skips, logits out."""
    import keras
    from keras import layers

    def block(x, f):
        x = layers.Conv2D(f, 3, padding="same", activation="relu")(x)
        return layers.Conv2D(f, 3, padding="same", activation="relu")(x)

    inputs = keras.Input(input_shape)
    x, skips = inputs, []
    for level in range(depth):
        x = block(x, filters * 2**level)
        skips.append(x)
        x = layers.MaxPooling2D()(x)
    x = block(x, filters * 2**depth)
    for level in reversed(range(depth)):
        x = layers.Conv2DTranspose(filters * 2**level, 2, strides=2, padding="same")(x)
        x = block(layers.Concatenate()([x, skips[level]]), filters * 2**level)
    outputs = layers.Conv2D(num_classes, 1)(x)
    return keras.Model(inputs, outputs, name="unet")


def compile_unet(model):
    import keras

    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


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
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-transforms", action="store_true", help="no on-the-fly transforms")
    args = parser.parse_args(argv)

    import keras

    from augkit.io import read_dataset
    from augkit.sampling import FolderSource, MixedSampler
    from augkit.sampling.tfdata import as_tf_dataset
    from augkit.transforms.pipeline import ClassicalPipeline

    keras.utils.set_random_seed(args.seed)  # the model's initial weights
    real = read_dataset(args.real)
    synthetic = FolderSource(args.synthetic) if args.synthetic else None
    sampler = MixedSampler(real, synthetic, synthetic_fraction=args.fraction, seed=args.seed,
                           transforms=None if args.no_transforms else ClassicalPipeline(),
                           epoch_size=args.steps * args.batch_size)
    dataset = as_tf_dataset(sampler, batch_size=args.batch_size, num_epochs=args.epochs)
    model = compile_unet(build_unet(real[0].image.shape))
    print(f"{len(real)} real, {0 if synthetic is None else len(synthetic)} synthetic samples; "
          f"{args.epochs} epochs of {args.steps} steps")
    # shuffle=False: positions are already drawn at random by the sampler.
    history = model.fit(dataset, epochs=args.epochs, steps_per_epoch=args.steps, shuffle=False,
                        verbose=2)
    print("loss per epoch:", [round(v, 4) for v in history.history["loss"]])


if __name__ == "__main__":
    main()

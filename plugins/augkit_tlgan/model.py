"""The networks of seed 000: a generator of L up-sampling levels with parallel branches, and a
discriminator made of a frozen pretrained backbone with a small trainable head. TensorFlow
backend."""

from __future__ import annotations

import keras
from keras import layers, ops

from augkit.seeding import derive_seed

from augkit_latent.gan import minibatch_stddev
from augkit_tlgan.backbones import preprocess


def _init(seed: int) -> keras.initializers.Initializer:
    # one seed per layer: a shared int seed would give equal-shaped layers equal weights
    return keras.initializers.GlorotUniform(seed=seed)


class UpLevel(layers.Layer):
    """One up-sampling level of seed 000's Table 1, as three parallel branches from a 3×3 conv
    (``filters`` = 2**l*8): plain 2× up-sampling; a 1×1 conv (2×filters) then a 3×3 stride-2
    transposed conv; a 1×1 conv (2×filters) then a 1×1 stride-2 transposed conv. The branches
    are concatenated (3×filters at twice the size), group-normalised and passed through GELU."""

    def __init__(self, filters: int, *, groups: int, seed: int, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.groups = filters, groups
        k = iter(range(100))

        def conv(f, size, transpose=False):
            cls = layers.Conv2DTranspose if transpose else layers.Conv2D
            return cls(f, size, strides=2 if transpose else 1, padding="same",
                       kernel_initializer=_init(derive_seed(seed, next(k))))

        self.conv = conv(filters, 3)
        self.up = layers.UpSampling2D(2)
        self.wide_a, self.trans_a = conv(2 * filters, 1), conv(filters, 3, transpose=True)
        self.wide_b, self.trans_b = conv(2 * filters, 1), conv(filters, 1, transpose=True)
        self.norm = layers.GroupNormalization(groups=groups)

    def call(self, x):
        h = self.conv(x)
        x = ops.concatenate([self.up(h), self.trans_a(self.wide_a(h)), self.trans_b(self.wide_b(h))],
                            axis=-1)
        return ops.gelu(self.norm(x))


class TLGenerator(keras.Model):
    """``[z, class_index]`` → image (C channels in [-1, 1]): a dense projection to a 4×4 block
    (group norm, GELU), ``len(level_widths)`` up-sampling levels, a 3×3 conv with tanh.
    Conditional (``num_classes >= 2``): the label's embedding is concatenated to z."""

    def __init__(self, *, size: int, num_channels: int, latent_dim: int, block_width: int,
                 level_widths: list[int], groups: int, num_classes: int = 0,
                 embedding_dim: int = 50, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        if size != 4 * 2 ** len(level_widths):
            raise ValueError(f"TLGenerator needs size == 4 * 2**len(level_widths). Received: "
                             f"size={size}, len(level_widths)={len(level_widths)}")
        self.size, self.num_channels, self.latent_dim = size, num_channels, latent_dim
        self.block_width, self.num_classes = block_width, num_classes
        if num_classes >= 2:
            self.embed = layers.Embedding(num_classes, embedding_dim,
                                          embeddings_initializer=_init(derive_seed(seed, 900)))
        self.project = layers.Dense(4 * 4 * block_width, kernel_initializer=_init(derive_seed(seed, 901)))
        self.project_norm = layers.GroupNormalization(groups=groups)
        self.levels = [UpLevel(w, groups=groups, seed=derive_seed(seed, i))
                       for i, w in enumerate(level_widths)]
        self.out_conv = layers.Conv2D(num_channels, 3, padding="same", activation="tanh",
                                      kernel_initializer=_init(derive_seed(seed, 902)))

    def call(self, inputs, training=False):
        z, labels = inputs
        if self.num_classes >= 2:
            z = ops.concatenate([z, self.embed(labels)], axis=-1)
        x = ops.reshape(self.project(z), (-1, 4, 4, self.block_width))
        x = ops.gelu(self.project_norm(x))
        for level in self.levels:
            x = level(x)
        return self.out_conv(x)


TAP_STRIDES = (4, 8, 16)  # feature maps the multiscale head reads, as input side / map side


def tap_layers(backbone: keras.Model, input_size: int, strides=TAP_STRIDES) -> list[str]:
    """Per stride, the deepest backbone layer whose output map is input_size / stride wide
    (padding layers, one pixel wider, never match)."""
    deepest = {}
    for layer in backbone.layers:
        shape = layer.output.shape
        if len(shape) == 4 and shape[1] is not None:
            deepest[int(shape[1])] = layer.name
    return [deepest[input_size // s] for s in strides if input_size // s in deepest]


class ScaleHead(layers.Layer):
    """A small trainable conv discriminator on one frozen feature map (Projected GAN, Sauer et
    al. 2021): stride-2 4×4 convs (LeakyReLU 0.2) down to at most 6×6, a 1×1 conv to one logit
    per position, averaged."""

    def __init__(self, side: int, width: int, *, seed: int, **kwargs):
        super().__init__(**kwargs)
        self.convs = []
        k = 0
        while side > 6:
            self.convs.append(layers.Conv2D(width, 4, strides=2, padding="same",
                                            kernel_initializer=_init(derive_seed(seed, k))))
            side, k = (side + 1) // 2, k + 1
        if not self.convs:  # a small map still gets one spatial conv before the logit
            self.convs.append(layers.Conv2D(width, 3, padding="same",
                                            kernel_initializer=_init(derive_seed(seed, k))))
        self.logit = layers.Conv2D(1, 1, kernel_initializer=_init(derive_seed(seed, 99)))

    def call(self, x):
        for conv in self.convs:
            x = ops.leaky_relu(conv(x), negative_slope=0.2)
        return ops.mean(self.logit(x), axis=(1, 2))


class BackboneDiscriminator(keras.Model):
    """``[image, class_index]`` → one real/fake logit from a frozen backbone's features.

    The image (C = 1 is tiled to 3 channels; the backbones are RGB networks) is resized to the
    backbone's input side, scaled the way its ImageNet weights expect, and passed through the
    frozen backbone (inference mode); global average pooling, a fixed standardisation set from
    the training images (``calibrate``; no trainable weights), unit RMS per sample, and a dense
    unit make the logit
    (seed 000: Xception's 2,048 features, 2,048 trainable weights). ``head_units > 0`` puts a
    hidden layer before the unit; ``minibatch_std`` (not in seed 000) appends the batch's
    feature spread to the pooled features, against mode collapse. Conditional: a projection term <embed(label), features> is
    added (a learnt class embedding on the discriminator side).

    ``head="multiscale"`` (not in seed 000; Projected GAN) adds, for the feature maps at
    ``tap_strides`` (default 4, 8 and 16), a small trainable conv head (``ScaleHead``) on the
    map standardised per channel, and sums their logits with the pooled one. Global pooling throws away where
    things are; a frozen backbone without ImageNet weights then cannot tell a brain from
    stripes, and the maps keep the layout. A stride-2 tap (the backbone's first conv block)
    sees pixel-level artefacts such as the checkerboard of stride-2 transposed convs.
    """

    def __init__(self, backbone: keras.Model, *, mode: str, input_size: int, backbone_size: int,
                 num_classes: int = 0, head_units: int = 0, minibatch_std: bool = False,
                 head: str = "pooled", head_width: int = 64, tap_strides=TAP_STRIDES,
                 seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        if head not in ("pooled", "multiscale"):
            raise ValueError(f"head must be 'pooled' or 'multiscale'. Received: {head!r}")
        self.backbone, self.mode, self.minibatch_std = backbone, mode, minibatch_std
        self.head = head
        self.input_size, self.backbone_size, self.num_classes = input_size, backbone_size, num_classes
        self.resize = (layers.Resizing(backbone_size, backbone_size, interpolation="bilinear")
                       if backbone_size != input_size else None)
        self.pool = layers.GlobalAveragePooling2D()
        features = backbone.output_shape[-1] + (1 if minibatch_std else 0)
        self.hidden = (layers.Dense(head_units, kernel_initializer=_init(derive_seed(seed, 1)))
                       if head_units else None)
        self.out = layers.Dense(1, kernel_initializer=_init(derive_seed(seed, 2)))
        pooled = backbone.output_shape[-1]
        self.feature_mean = self.add_weight(shape=(pooled,), initializer="zeros", trainable=False,
                                            name="feature_mean")
        self.feature_scale = self.add_weight(shape=(pooled,), initializer="ones", trainable=False,
                                             name="feature_scale")
        if num_classes >= 2:
            self.embed = layers.Embedding(num_classes, head_units or features,
                                          embeddings_initializer=keras.initializers.RandomNormal(
                                              stddev=0.02, seed=derive_seed(seed, 3)))
        self.taps = tap_layers(backbone, backbone_size, tap_strides) if head == "multiscale" else []
        # one functional model over the same (frozen) layers: every tap and the last map in a pass
        self.extractor = keras.Model(backbone.input, [backbone.get_layer(n).output for n in self.taps]
                                     + [backbone.output], name="feature_maps")
        self.tap_heads, self.tap_mean, self.tap_scale = [], [], []
        for i, name in enumerate(self.taps):
            shape = backbone.get_layer(name).output.shape
            self.tap_heads.append(ScaleHead(int(shape[1]), head_width, seed=derive_seed(seed, 10 + i)))
            self.tap_mean.append(self.add_weight(shape=(int(shape[-1]),), initializer="zeros",
                                                 trainable=False, name=f"tap{i}_mean"))
            self.tap_scale.append(self.add_weight(shape=(int(shape[-1]),), initializer="ones",
                                                  trainable=False, name=f"tap{i}_scale"))

    def feature_maps(self, x):
        """The tap maps and the pooled last map of the frozen backbone."""
        if x.shape[-1] == 1:
            x = ops.concatenate([x, x, x], axis=-1)
        if self.resize is not None:
            x = self.resize(x)
        outputs = self.extractor(preprocess(x, self.mode), training=False)
        if not isinstance(outputs, (list, tuple)):
            outputs = [outputs]
        return list(outputs[:-1]), self.pool(outputs[-1])

    def pooled_features(self, x):
        return self.feature_maps(x)[1]

    def calibrate(self, images, batch_size: int = 32) -> None:
        """Set the fixed per-feature standardisation from the training images' pooled features.
        A frozen random backbone's features shrink towards 1e-11 with depth; an ImageNet
        backbone's vary in scale. Standardised, the linear head learns at the usual rate."""
        import numpy as np

        def standardiser(feats):
            std = feats.std(axis=0)
            floor = 1e-3 * float(std.mean()) + 1e-30  # features that never vary stay near zero
            return feats.mean(axis=0).astype(np.float32), (std + floor).astype(np.float32)

        maps, pooled = [], []
        for i in range(0, len(images), batch_size):
            taps, feats = self.feature_maps(images[i:i + batch_size])
            pooled.append(np.asarray(feats, np.float64))
            # per channel over images and positions
            maps.append([np.asarray(t, np.float64).reshape(-1, t.shape[-1]) for t in taps])
        mean, scale = standardiser(np.concatenate(pooled))
        self.feature_mean.assign(mean)
        self.feature_scale.assign(scale)
        for k in range(len(self.taps)):
            mean, scale = standardiser(np.concatenate([m[k] for m in maps]))
            self.tap_mean[k].assign(mean)
            self.tap_scale[k].assign(scale)

    @property
    def checkpoint_weights(self):
        """What training changes: the head (the frozen backbone comes from its file)."""
        frozen = {id(w) for w in self.backbone.weights}
        return [w for w in self.weights if id(w) not in frozen]

    def call(self, inputs, training=False):
        x, labels = inputs
        taps, pooled = self.feature_maps(x)
        features = (pooled - self.feature_mean) / self.feature_scale
        # fakes can sit far outside the real features' range: unit RMS per sample keeps the
        # logits bounded, so the head cannot saturate on them
        features = features * ops.rsqrt(ops.mean(ops.square(features), axis=-1, keepdims=True) + 1e-6)
        if self.minibatch_std:
            features = ops.concatenate(
                [features, ops.ones_like(features[:, :1]) * minibatch_stddev(features)], axis=-1)
        if self.hidden is not None:
            features = ops.leaky_relu(self.hidden(features), negative_slope=0.2)
        logit = self.out(features)
        if self.num_classes >= 2:
            logit = logit + ops.sum(self.embed(labels) * features, axis=-1, keepdims=True)
        for tap, head, mean, scale in zip(taps, self.tap_heads, self.tap_mean, self.tap_scale):
            logit = logit + head((tap - mean) / scale)
        return logit

"""tabimage against memorising rows and for images that follow their row (issue 23, item 4):
the image head reads the generated row (``row_to_image``), the discriminator sees noisy rows
(``row_noise``), and the validation choice of a stop (``augkit_tabimage.selection.choose``)."""

from __future__ import annotations

import numpy as np
import pytest

from augkit_tabimage.model import TabImageDiscriminator, TabImageGAN, TabImageGenerator
from augkit_tabimage.selection import choose

BLOCKS = [{"name": "age", "kind": "numeric", "start": 0, "size": 1},
          {"name": "grade", "kind": "categorical", "start": 1, "size": 2}]


def _generator(row_to_image: bool) -> TabImageGenerator:
    return TabImageGenerator(size=8, num_channels=1, blocks=BLOCKS, latent_dim=6, trunk_units=(8,),
                             image_widths=(4,), kernel_size=3, table_widths=(8,),
                             row_to_image=row_to_image, seed=1)


@pytest.mark.parametrize("row_to_image", [True, False])
def test_the_image_changes_with_its_row_only_when_the_head_reads_it(row_to_image):
    gen = _generator(row_to_image)
    noise = np.random.default_rng(0).standard_normal((3, 6)).astype(np.float32)
    image, row = gen(noise)
    kernel, bias = gen.table_out.kernel, gen.table_out.bias
    kernel.assign(np.zeros(kernel.shape, np.float32))
    bias.assign(np.array([0.9, 8.0, -8.0], np.float32))  # every row: age 0.72, grade the first
    image2, row2 = gen(noise)
    assert not np.allclose(np.asarray(row), np.asarray(row2))  # the rows did change
    changed = not np.allclose(np.asarray(image), np.asarray(image2), atol=1e-6)
    assert changed == row_to_image


def test_row_noise_blurs_the_rows_the_discriminator_sees():
    disc = TabImageDiscriminator(image_widths=(4,), image_strides=(2,), kernel_size=3,
                                 table_widths=(8,), joint_units=4, dropout=0.0, seed=2)
    image = np.zeros((4, 8, 8, 1), np.float32)
    rows = np.tile(np.array([[0.5, 1.0, 0.0]], np.float32), (4, 1))
    plain = np.asarray(disc((image, rows), training=True))
    for noise, differs in ((0.0, False), (0.3, True)):
        gan = TabImageGAN(_generator(True), disc, row_noise=noise, seed=3)
        seen = np.asarray(gan._discriminate(image, rows))
        assert (not np.allclose(seen, plain, atol=1e-6)) == differs
        if differs:  # fresh noise per row: equal rows get different verdicts
            assert np.ptp(seen) > 1e-6


def test_choose_takes_the_best_validation_tstr_among_private_stops():
    stops = [{"epochs": 100, "share_near_copies": 0.01, "tstr_auc": 0.60},
             {"epochs": 200, "share_near_copies": 0.04, "tstr_auc": 0.70},
             {"epochs": 300, "share_near_copies": 0.30, "tstr_auc": 0.90},  # best, but copies rows
             {"epochs": 400, "share_near_copies": 0.05, "tstr_auc": 0.70}]
    assert choose(stops)["epochs"] == 200
    assert choose(stops, max_near_copies=0.5)["epochs"] == 300
    assert choose([{"epochs": 50, "share_near_copies": 0.2, "tstr_auc": 0.8}]) is None

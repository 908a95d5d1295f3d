"""tabimage against memorising rows and for images that follow their row (issue 23, item 4):
the image head reads the generated row (``row_to_image``), the discriminator sees noisy rows
(``row_noise``), and the validation choice of a stop (``augkit_tabimage.selection.choose``)."""

from __future__ import annotations

import numpy as np
import pytest

from augkit_tabimage.model import TabImageDiscriminator, TabImageGAN, TabImageGenerator
from augkit_tabimage.selection import choose

BLOCKS = [{"column": "age", "kind": "numeric", "start": 0, "size": 1},
          {"column": "grade", "kind": "categorical", "start": 1, "size": 2}]


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



GRADE = {"column": "grade", "kind": "categorical", "start": 1, "size": 2}


def _aux_gan(image_weight=1.0):
    disc = TabImageDiscriminator(image_widths=(4,), image_strides=(2,), kernel_size=3, table_widths=(8,),
                                 joint_units=4, dropout=0.0, aux_units=2, seed=2)
    return TabImageGAN(_generator(row_to_image=False), disc, image_block=GRADE, image_weight=image_weight, seed=3)


def test_the_image_head_names_the_grade_from_the_image_alone():
    """The discriminator's extra head reads the image branch only: the same image with another
    row gets the same grade logits (the real/fake verdict does change)."""
    gan = _aux_gan()
    image = np.random.default_rng(0).uniform(-1, 1, (2, 8, 8, 1)).astype(np.float32)
    rows_a = np.array([[0.1, 1, 0], [0.5, 0, 1]], np.float32)
    rows_b = rows_a[::-1].copy()
    (v_a, aux_a), (v_b, aux_b) = gan.discriminator((image, rows_a)), gan.discriminator((image, rows_b))
    assert aux_a.shape == (2, 2) and np.allclose(aux_a, aux_b)
    assert not np.allclose(v_a, v_b)


def test_the_grade_loss_holds_the_generated_row_fixed_and_skips_missing_grades():
    """G's grade loss is the head's cross-entropy against G's own row, held fixed: with the
    image head reading only the trunk (seed 004's design) its gradient reaches the image head and
    not the table head, so the image follows the row (with ``row_to_image`` the image head also
    reads the row, and the loss reaches the row through it). Hand-computed cross-entropies: a
    categorical row with no value adds nothing; a binary column's rows with the missing flag
    on are left out of the mean."""
    import tensorflow as tf

    gan = _aux_gan()
    rng = np.random.default_rng(1)
    noise = rng.standard_normal((4, 6)).astype(np.float32)
    with tf.GradientTape(persistent=True) as tape:
        images, rows = gan.generator(noise, training=True)
        _, aux = gan.discriminator((images, rows))
        _, g_aux = gan.column_losses(rows, aux, rows, aux)
    head = tape.gradient(g_aux, gan.generator.image_out.trainable_variables[0])
    table = tape.gradient(g_aux, gan.generator.table_out.kernel)
    assert head is not None and float(tf.reduce_sum(tf.abs(head))) > 0
    assert table is None or float(tf.reduce_sum(tf.abs(table))) == 0.0

    real_rows = np.array([[0.0, 1, 0], [0.0, 0, 1], [0.0, 0, 0]], np.float32)  # the last: no grade
    logits = rng.standard_normal((3, 2)).astype(np.float32)
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    expected = -(log_p[0, 0] + log_p[1, 1] + 0.0) / 3
    assert np.isclose(float(gan._column_loss(real_rows, logits)), expected, atol=1e-6)

    gan.image_block = {"column": "grade", "kind": "binary", "start": 1, "size": 1, "missing_start": 2}
    rows = np.array([[0.0, 1, 0], [0.0, 0, 0], [0.0, 0, 1]], np.float32)  # grade 1, grade 0, missing
    z = rng.standard_normal((3, 1)).astype(np.float32)
    bce = np.log1p(np.exp(z[:, 0])) - rows[:, 1] * z[:, 0]
    assert np.isclose(float(gan._column_loss(rows, z)), (bce[0] + bce[1]) / 2, atol=1e-5)


def test_a_training_step_logs_both_grade_losses_and_an_unknown_column_is_refused():
    import keras

    from augkit.errors import UsageError
    from augkit.registry.host import get_generator

    gan = _aux_gan()
    gan.compile(g_optimizer=keras.optimizers.Adam(1e-3), d_optimizer=keras.optimizers.Adam(1e-3))
    rng = np.random.default_rng(2)
    rows = np.stack([rng.uniform(-1, 1, 8), np.arange(8) % 2 == 0, np.arange(8) % 2 == 1], 1).astype(np.float32)
    images = rng.uniform(-1, 1, (8, 8, 8, 1)).astype(np.float32)
    _, aux_real = gan.discriminator((images, rows), training=True)
    on_real = float(gan._column_loss(rows, aux_real))  # D's grade loss is read off the real pairs
    logged = gan.train_on_batch(images, rows, return_dict=True)
    assert {"d_aux", "g_aux"} <= set(logged) and np.isfinite([logged["d_aux"], logged["g_aux"]]).all()
    assert np.isclose(logged["d_aux"], on_real, rtol=1e-4), (logged["d_aux"], on_real)
    gen = get_generator("tabimage")("tiny", image_column="grade")
    table = type("T", (), {"blocks": [{"column": "age", "kind": "numeric", "start": 0, "size": 1},
                                     {"column": "site", "kind": "categorical", "start": 1, "size": 1}]})()
    with pytest.raises(UsageError, match=r"image_column='grade' is not a categorical or binary column.*\[\]"):
        gen._image_block(table)

"""Evaluation of synthetic data: image fidelity, diversity and memorisation (``evaluate_images``,
``find_near_copies``), synthetic tables (``evaluate_tables``, its Markdown summary in
``table_summary``), whether generated image + row pairs agree (``image_row_agreement``), the
pixel diversity of a small generated set (``pixel_diversity``) and segmentation metrics
(``segmentation_scores``)."""

from augkit.evaluate.privacy import DEFAULT_NEAR_COPY_THRESHOLD, find_near_copies
from augkit.evaluate.report import evaluate_images
from augkit.evaluate.segmentation import accuracy, dice, dice_per_class, mean_iou, segmentation_scores
from augkit.evaluate.table_report import evaluate_tables

__all__ = [
    "DEFAULT_NEAR_COPY_THRESHOLD",
    "accuracy",
    "dice",
    "dice_per_class",
    "evaluate_images",
    "evaluate_tables",
    "find_near_copies",
    "mean_iou",
    "segmentation_scores",
]

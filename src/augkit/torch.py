"""A ``MixedSampler`` as a PyTorch map-style dataset (install with ``pip install 'augkit[torch]'``).

The core never imports torch; only this module does. Item k of the dataset is position k of the
sampler's current epoch, drawn from (seed, epoch, k) alone, so DataLoader workers, which are
handed disjoint indices, never repeat each other's draws, and the result does not depend on the
number of workers. Call ``set_epoch(e)`` before iterating the DataLoader for epoch e (with the
default ``persistent_workers=False`` workers are started afresh for each epoch and see it).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

try:
    import torch
    from torch.utils.data import Dataset
except ModuleNotFoundError as exc:  # pragma: no cover - exercised only without torch
    raise ModuleNotFoundError(
        "augkit.torch needs PyTorch, which is not installed. Fix: pip install 'augkit[torch]'"
    ) from exc

import numpy as np

from augkit.sampler import Encoder, MixedSampler
from augkit.seeding import derive_seed


class MixedTorchDataset(Dataset):
    """``dataset[k]`` -> (image C×H×W float32, mask H×W int64) or (image, label int64 scalar);
    with ``one_hot`` the target is float32 (num_classes×H×W for masks, num_classes for labels).
    Encoding options as in ``augkit.tfdata.as_tf_dataset``."""

    def __init__(self, sampler: MixedSampler, *, task: str = "segmentation", one_hot: bool = False,
                 num_classes: int | None = None, label_values: Sequence[Any] | None = None,
                 scale: bool = True, epoch: int | None = None):
        self.sampler = sampler
        self.encoder = Encoder(sampler, task=task, one_hot=one_hot, num_classes=num_classes,
                               label_values=label_values, image_dtype="float32", scale=scale)
        self.epoch = sampler.epoch if epoch is None else int(epoch)

    def __len__(self) -> int:
        return len(self.sampler)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        self.sampler.set_epoch(epoch)

    def __getitem__(self, k: int):
        if not 0 <= k < len(self):
            raise IndexError(f"index {k} outside the epoch of {len(self)} samples")
        image, target = self.encoder(self.sampler.get(self.epoch, int(k)))
        image = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))
        if self.encoder.one_hot and self.encoder.task == "segmentation":
            target = target.transpose(2, 0, 1)  # channels first, like the image
        return image, torch.from_numpy(np.array(target, order="C"))  # keeps 0-d labels 0-d

    def worker_init_fn(self, worker_id: int) -> None:
        """Seed torch's and NumPy's global generators in each worker from (seed, epoch, worker).

        augkit's own draws never use them (they are positional), but user code in the loop
        might; without this, forked workers would share one NumPy state.
        """
        seed = derive_seed(self.sampler.seed, self.epoch, worker_id)
        random.seed(seed)
        torch.manual_seed(seed)
        np.random.seed(seed)  # the legacy global state user code may read; augkit does not

"""A ``MixedSampler`` as a PyTorch map-style dataset (install with ``pip install 'augkit[torch]'``).

The core never imports torch; only this module does. Item k of the dataset is position k of the
sampler's current epoch, drawn from (seed, epoch, k) alone, so DataLoader workers, which are
handed disjoint indices, never repeat each other's draws, and the result does not depend on the
number of workers. Call ``set_epoch(e)`` before iterating the DataLoader for epoch e, as with
DistributedSampler. The epoch and which positions were served live in shared memory, so
persistent workers see a new epoch too, and a loop that forgot ``set_epoch`` (every position
served a second time) is warned about once, whichever process serves it (``EpochRepeatWarning``).
"""

from __future__ import annotations

import multiprocessing
import random
import warnings
from collections.abc import Sequence
from multiprocessing.context import get_spawning_popen
from typing import Any

try:
    import torch
    from torch.utils.data import Dataset
except ModuleNotFoundError as exc:  # pragma: no cover - exercised only without torch
    raise ModuleNotFoundError(
        "augkit.sampling.torch needs PyTorch, which is not installed. Fix: pip install 'augkit[torch]'"
    ) from exc

import numpy as np

from augkit.sampling.encoding import Encoder
from augkit.sampling.sampler import EpochRepeatWarning, MixedSampler, repeat_message
from augkit.seeding import derive_seed


class MixedTorchDataset(Dataset):
    """``dataset[k]`` -> (image C×H×W float32, mask H×W int64) or (image, label int64 scalar);
    volumes (and their patches) give (C×X×Y×Z float32, X×Y×Z int64);
    with ``one_hot`` the target is float32 (num_classes×H×W for masks, num_classes for labels).
    Encoding options as in ``augkit.sampling.tfdata.as_tf_dataset``. ``as_dict=True`` gives MONAI-style
    items ``{"image", "mask" (or "label"), "source", "id"}``, ``source`` (real, classical, gan,
    gan+classical) and ``id`` naming the stored sample drawn, before on-the-fly transforms."""

    def __init__(self, sampler: MixedSampler, *, task: str = "segmentation", one_hot: bool = False,
                 num_classes: int | None = None, label_values: Sequence[Any] | None = None,
                 scale: bool = True, epoch: int | None = None, as_dict: bool = False):
        self.sampler = sampler
        self.encoder = Encoder(sampler, task=task, one_hot=one_hot, num_classes=num_classes,
                               label_values=label_values, image_dtype="float32", scale=scale)
        self.as_dict = bool(as_dict)
        self._target_key = "mask" if task == "segmentation" else "label"
        self._share(sampler.epoch if epoch is None else int(epoch))

    def _share(self, epoch: int) -> None:
        # Made here, in the main process: forked or spawned DataLoader workers inherit them.
        self._epoch = multiprocessing.RawValue("q", epoch)
        self._warned = multiprocessing.RawValue("b", 0)
        self._served = multiprocessing.RawArray("b", len(self.sampler))

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        if get_spawning_popen() is None:  # a plain pickle (a copy): its own fresh bookkeeping
            state["_epoch"] = self.epoch
            del state["_warned"], state["_served"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        epoch = state["_epoch"]
        self.__dict__.update(state)
        if isinstance(epoch, int):
            self._share(epoch)

    @property
    def epoch(self) -> int:
        return int(self._epoch.value)

    def __len__(self) -> int:
        return len(self.sampler)

    def set_epoch(self, epoch: int) -> None:
        """Call before iterating the DataLoader for ``epoch`` (even a repeated one, on purpose)."""
        self._epoch.value = int(epoch)
        self._served[:] = bytes(len(self._served))
        self.sampler.set_epoch(epoch)

    def __getitem__(self, k: int):
        if not 0 <= k < len(self):
            raise IndexError(f"index {k} outside the epoch of {len(self)} samples")
        epoch = self.epoch
        self._note_served(epoch, int(k))
        sample, origin = self.sampler.get_with_origin(epoch, int(k))
        image, target = self.encoder(sample)
        image = torch.from_numpy(np.ascontiguousarray(np.moveaxis(image, -1, 0)))
        if self.encoder.one_hot and self.encoder.task == "segmentation":
            target = np.moveaxis(target, -1, 0)  # channels first, like the image
        target = torch.from_numpy(np.array(target, order="C"))  # keeps 0-d labels 0-d
        if self.as_dict:
            return {"image": image, self._target_key: target, **origin}
        return image, target

    def _note_served(self, epoch: int, k: int) -> None:
        # Races between workers can only make two warnings out of one; never a missed repeat
        # of a whole epoch.
        if self._served[k] and not self._warned.value:
            self._warned.value = 1
            warnings.warn(repeat_message(epoch), EpochRepeatWarning, stacklevel=3)
        self._served[k] = 1

    def worker_init_fn(self, worker_id: int) -> None:
        """Seed torch's and NumPy's global generators in each worker from (seed, epoch, worker).

        augkit's own draws never use them (they are positional), but user code in the loop
        might; without this, forked workers would share one NumPy state.
        """
        seed = derive_seed(self.sampler.seed, self.epoch, worker_id)
        random.seed(seed)
        torch.manual_seed(seed)
        np.random.seed(seed)  # the legacy global state user code may read; augkit does not

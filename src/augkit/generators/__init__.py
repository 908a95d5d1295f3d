"""What a generator plugin implements and what it may use: ``contract`` (the ``Generator`` base
class, saving and loading, ``condition_for``), ``training`` (Keras helpers shared by the GAN
plugins: seeded initialisers, best-checkpoint keeping, loss logs), ``distribute``
(tf.distribute strategies for ``augkit train --strategy``) and ``budget`` (training within a
wall-clock budget). The contract's names load on first use, so ``import augkit.generators``
does not import Keras."""

from augkit import lazy_exports

__getattr__ = lazy_exports(__name__, {name: "augkit.generators.contract" for name in (
    "Generator", "PairedNetworkGenerator", "KeepsBestGenerator", "TASKS", "CONFIG_FILE", "condition_for",
    "is_sample_conditioned",
    "run_per_index", "save_weight_files", "load_weight_files", "write_saved_config", "read_saved_config")})
__all__ = ["CONFIG_FILE", "Generator", "KeepsBestGenerator", "PairedNetworkGenerator", "TASKS",
           "condition_for", "is_sample_conditioned", "load_weight_files", "read_saved_config", "run_per_index",
           "save_weight_files", "write_saved_config"]

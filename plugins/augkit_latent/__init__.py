"""What the latent-vector GAN plugins (``dcgan``, ``tlgan``) share, in a package of its own so
one plugin never imports another and the core stays free of GAN code: ``generator``
(``LatentGenerator``: fit, resume, generate, save, load), ``images`` (Samples to [-1, 1]
tensors and back), ``gan`` (the Keras training step), ``grids`` (generated images beside real
ones) and ``run_summary`` (the class-GAN benchmark's Markdown). It registers no generator itself;
nothing here imports Keras until a model is built."""

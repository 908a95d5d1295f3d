"""What the latent-vector GAN plugins (``dcgan``, ``tlgan``) share, in a package of its own so
one plugin never imports another and the core stays free of GAN code: ``generator``
(``LatentGenerator``: fit, resume, generate, save, load), ``images`` (Samples to [-1, 1]
tensors and back) and ``gan`` (the Keras training step). It registers no generator itself;
nothing here imports Keras until a model is built."""

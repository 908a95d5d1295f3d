"""What the image-to-image GAN plugins (``pix2pix``, ``lesiongan``) share, in a package of its
own so one plugin never imports another and the core stays free of GAN code: ``blocks`` (the
seeded weight initialiser and the PatchGAN discriminator). It registers no generator itself."""

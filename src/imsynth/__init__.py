"""imsynth: learned photographic image synthesis (CRN, pix2pix, colorization) on one PyTorch toolkit."""

__version__ = "0.1.0"

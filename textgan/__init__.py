"""textgan: character-level WGAN-GP for text."""

__version__ = "0.1.0"

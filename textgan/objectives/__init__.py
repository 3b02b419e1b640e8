"""What the critic and the generator minimise: the Wasserstein terms, the interpolation and the
gradient penalty, each formula written once."""

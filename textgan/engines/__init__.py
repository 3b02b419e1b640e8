"""How a training step's gradients are computed."""

"""The one training loop, the training step, the run's state and the processes that train it."""

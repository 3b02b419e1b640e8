"""The training loop and what it needs: run state, checkpoints, processes, devices, the run log."""

"""What any layer may use: the device and precision, the random streams and atomic file writes."""

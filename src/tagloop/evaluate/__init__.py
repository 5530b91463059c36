"""Pure functions from labels and probabilities to an honest report."""

"""Load a model package and answer predictions."""

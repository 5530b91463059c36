"""Heads on embeddings, honest cross-validation splits, and the training service."""

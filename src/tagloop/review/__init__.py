"""Choose which images a person should label next, and record what they decide."""

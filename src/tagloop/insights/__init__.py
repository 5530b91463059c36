"""Data insights: what to fix in a dataset before (and after) training, in plain words.

``findings`` holds the report's shape; ``detectors`` the pure checks (arrays in, findings out);
the pipeline runs them over a dataset's embeddings, hashes and out-of-fold probabilities.
"""

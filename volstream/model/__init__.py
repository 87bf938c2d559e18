"""Models: the registry of versions, the baseline rule, training and inference backends."""

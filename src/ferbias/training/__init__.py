"""Training: augmentation, recipes (variants), fit, training data, prediction."""

"""Optimizer state, pure (no TensorFlow): the slot vocabulary table, layouts per generation, rule differences."""

"""The canonical dict, pure (no TensorFlow): per-class and per-version tables, values, the read edge
(native config -> canonical), the write edge (canonical -> a flavour's kwargs), JSON streams, tf.compat.v1.train."""

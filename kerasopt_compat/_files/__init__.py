"""Containers, pure (no TensorFlow): model files (.h5, .keras, SavedModel, TF.js), the TF tensor bundle and
object graph, the protobuf wire format, safe file access and atomic writes."""

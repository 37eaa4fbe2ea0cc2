"""The installed Keras (live): flavour detection, serialize/deserialize, install(), state into live optimizers."""

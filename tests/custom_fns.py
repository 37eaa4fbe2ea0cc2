"""The custom loss and metric of tests/data/custom_models (tools/export_custom_models.py
defines the same functions in its own ``__main__``): what a user passes in ``custom_objects``."""

from __future__ import annotations

from kerasopt_compat._keras.flavour import flavour


def _ops():
    fl = flavour()
    return fl.keras.ops if fl.kind == "keras3" else fl.keras.backend


def _target(y_true, y_pred):
    """``y_true`` as a tensor, as Keras' own losses and metrics take it. Keras 3 on
    PyTorch hands a metric the batch's ``y`` as given (a numpy array from
    ``train_on_batch``), and ``torch_tensor - ndarray`` makes numpy read a tensor
    that requires grad: RuntimeError."""
    fl = flavour()
    return fl.keras.ops.convert_to_tensor(y_true, dtype=y_pred.dtype) if fl.kind == "keras3" else y_true


def koc_custom_loss(y_true, y_pred):
    ops = _ops()
    return ops.mean(ops.square(y_pred - _target(y_true, y_pred)), axis=-1) * 2.0


def koc_custom_metric(y_true, y_pred):
    ops = _ops()
    return ops.mean(ops.abs(y_pred - _target(y_true, y_pred)), axis=-1)


CUSTOM_OBJECTS = {"koc_custom_loss": koc_custom_loss, "koc_custom_metric": koc_custom_metric}


def koc_scale_layer():
    """``KocScale``: a custom layer with one weight (``scale``, one value per feature) and a
    ``get_config``, for the installed Keras: what a user passes in ``custom_objects`` to load
    tests/data/savedmodel_kinds (tools/export_sm_kinds.py)."""
    keras = flavour().keras

    class KocScale(keras.layers.Layer):
        def __init__(self, factor=1.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def build(self, input_shape):
            self.scale = self.add_weight(name="scale", shape=(int(input_shape[-1]),), initializer="ones", trainable=True)
            super().build(input_shape)

        def call(self, inputs):
            return inputs * self.scale * self.factor

        def get_config(self):
            return dict(super().get_config(), factor=self.factor)

    return KocScale

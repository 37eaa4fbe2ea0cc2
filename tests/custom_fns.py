"""The custom loss and metric of tests/data/custom_models (tools/export_custom_models.py
defines the same functions in its own ``__main__``): what a user passes in ``custom_objects``."""

from __future__ import annotations

from kerasopt_compat._flavour import flavour


def _ops():
    fl = flavour()
    return fl.keras.ops if fl.kind == "keras3" else fl.keras.backend


def koc_custom_loss(y_true, y_pred):
    ops = _ops()
    return ops.mean(ops.square(y_pred - y_true), axis=-1) * 2.0


def koc_custom_metric(y_true, y_pred):
    ops = _ops()
    return ops.mean(ops.abs(y_pred - y_true), axis=-1)


CUSTOM_OBJECTS = {"koc_custom_loss": koc_custom_loss, "koc_custom_metric": koc_custom_metric}

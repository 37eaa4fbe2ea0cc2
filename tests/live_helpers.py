"""Helpers for tests that run against the installed TensorFlow/Keras (no mocks)."""

from __future__ import annotations

import math
import os
from typing import Any, Dict, List, Optional, Tuple

import pytest

from kerasopt_compat._optional import is_installed

REQUIRE_LIVE = os.environ.get("KOC_REQUIRE_LIVE") == "1"


def require_keras() -> None:
    """Skip the calling test module when no TF/Keras is installed, unless tox says it must run."""
    if is_installed("tensorflow") or is_installed("keras"):
        return
    if REQUIRE_LIVE:
        raise RuntimeError("KOC_REQUIRE_LIVE=1 but neither tensorflow nor keras is installed")
    pytest.skip("needs TensorFlow or Keras (run through tox)", allow_module_level=True)


#: Non-default constructor arguments per class (as in tests/data/documented_shapes.json).
NONDEFAULT: Dict[str, Dict[str, Any]] = {
    "Adadelta": {"learning_rate": 0.1, "rho": 0.9, "epsilon": 1e-06},
    "Adagrad": {"learning_rate": 0.1, "initial_accumulator_value": 0.2, "epsilon": 1e-06},
    "Adam": {"learning_rate": 0.1, "beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-06, "amsgrad": True},
    "Adamax": {"learning_rate": 0.1, "beta_1": 0.8, "epsilon": 1e-06},
    "Ftrl": {"learning_rate": 0.1, "learning_rate_power": -0.6, "l1_regularization_strength": 0.01},
    "Nadam": {"learning_rate": 0.1, "beta_1": 0.8, "beta_2": 0.99},
    "RMSprop": {"learning_rate": 0.1, "rho": 0.8, "momentum": 0.5, "centered": True},
    "SGD": {"learning_rate": 0.1, "momentum": 0.9, "nesterov": True},
    "AdamW": {"learning_rate": 0.1, "weight_decay": 0.01, "beta_1": 0.8},
    "Lion": {"learning_rate": 0.1, "beta_1": 0.8},
    "Lamb": {"learning_rate": 0.1, "beta_1": 0.8},
    "Adafactor": {"learning_rate": 0.1, "beta_2_decay": -0.7},
    "Muon": {"learning_rate": 0.1, "momentum": 0.9},
    "ScheduleFreeAdamW": {"learning_rate": 0.1, "beta_1": 0.8},
}


def model_formats(fl) -> List[str]:
    """The model-file formats the installed Keras saves and loads."""
    if fl.kind == "keras3":
        return [".keras", ".h5"]
    formats = [".h5", "savedmodel"]
    if fl.kind == "tf_keras" or tuple(int(p) for p in fl.keras_version.split(".")[:2]) >= (2, 12):
        formats.insert(0, ".keras")
    return formats


def namespaces(fl) -> List[Tuple[str, Any]]:
    """The optimizer namespaces the installed flavour really has."""
    out = [("optimizers", fl.keras.optimizers)]
    for name in ("legacy", "experimental"):
        ns = getattr(fl.keras.optimizers, name, None)
        if ns is None:
            continue
        try:
            ns.SGD()  # Keras 3 has a legacy namespace whose classes raise ImportError
        except Exception:  # noqa: BLE001
            continue
        if ns.SGD is fl.keras.optimizers.SGD:
            continue
        out.append(("optimizers." + name, ns))
    return out


def built_class(obj: Any) -> type:
    """The public class ``obj`` was built as: ``type(obj)``, except on Keras 3's PyTorch
    backend, which builds ``keras.src.backend.torch.optimizers.torch_adam.Adam`` for
    ``optimizers.Adam(...)`` (a subclass of the same name): then that public base."""
    cls = type(obj)
    if cls.__module__.startswith("keras.src.backend."):
        for base in cls.__mro__[1:]:
            if base.__name__ == cls.__name__:
                return base
    return cls


def step(fl, opt) -> None:
    """One real apply_gradients on a 2-element float32 variable."""
    if fl.tensorflow_version:
        import tensorflow as tf

        var = tf.Variable([1.0, 2.0])
        opt.apply_gradients([(tf.constant([0.1, 0.2]), var)])
    else:
        import keras
        import numpy as np

        var = keras.Variable(np.array([1.0, 2.0], dtype="float32"))
        opt.apply_gradients([(keras.ops.convert_to_tensor(np.array([0.1, 0.2], dtype="float32")), var)])


def assert_close(actual: Any, expected: Any, path: str = "$") -> None:
    """Canonical dicts equal, floats within float32 tolerance."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), path
        assert list(actual) == list(expected), (path, list(actual), list(expected))
        for key in expected:
            assert_close(actual[key], expected[key], path + "." + key)
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), path
        for i, (a, e) in enumerate(zip(actual, expected)):
            assert_close(a, e, "%s[%d]" % (path, i))
    elif isinstance(expected, float) and not isinstance(actual, bool):
        assert isinstance(actual, (int, float)), (path, actual)
        assert math.isclose(actual, expected, rel_tol=1e-6, abs_tol=1e-12), (path, actual, expected)
    else:
        assert actual == expected and type(actual) is type(expected), (path, actual, expected)


def drop_keys(canonical: Dict[str, Any], keys: List[str]) -> Dict[str, Any]:
    """Copy without the given keys (also inside a schedule learning rate)."""
    out = {"class_name": canonical["class_name"], "config": dict(canonical["config"])}
    for key in keys:
        out["config"].pop(key, None)
    lr = out["config"].get("learning_rate")
    if isinstance(lr, dict):
        out["config"]["learning_rate"] = {
            "class_name": lr["class_name"],
            "config": {k: v for k, v in lr["config"].items() if k not in keys},
        }
    return out


def first(items, default: Optional[Any] = None):
    return next(iter(items), default)


def write_report(filename: str, data: Any) -> None:
    """Write a test module's measurements as JSON into the tox env's KOC_REPORT_DIR (for compat_matrix.md)."""
    import json

    out_dir = os.environ.get("KOC_REPORT_DIR")
    if out_dir:
        with open(os.path.join(out_dir, filename), "w") as fh:
            json.dump(data, fh, indent=1)

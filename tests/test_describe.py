"""``Flavour.describe()`` and ``kerasopt-compat check`` name what is installed (no TF needed).

The live form of each env kind is checked against the real wheels in
tests/test_live.py (``test_describe_names_the_versions_and_the_keras3_backend``).
"""

from __future__ import annotations

import pytest

from kerasopt_compat.__main__ import main
from kerasopt_compat._errors import NOTHING_INSTALLED
from kerasopt_compat._keras import flavour as F
from kerasopt_compat._optional import is_installed

# (kind, TF version, Keras version, generation, backend, backend version) -> describe().
# Only the text is under test here: no module is needed (keras=None).
FORMS = [
    (("tf.keras (in-tree)", "2.4.4", "2.4.4", "legacy"), "TensorFlow 2.4.4, in-tree tf.keras (legacy)"),
    (("keras package", "2.9.3", "2.9.0", "legacy"), "TensorFlow 2.9.3, Keras 2.9.0 (legacy)"),
    (("keras package", "2.15.1", "2.15.0", "keras2"), "TensorFlow 2.15.1, Keras 2.15.0 (keras2)"),
    (("tf_keras", "2.21.0", "2.21.0", "keras2"), "TensorFlow 2.21.0, tf_keras 2.21.0 (keras2)"),
    (
        ("keras3", "2.21.0", "3.15.1", "keras3", "tensorflow", "2.21.0"),
        "TensorFlow 2.21.0, Keras 3.15.1 on TensorFlow (keras3)",
    ),
    # TensorFlow installed, KERAS_BACKEND=jax: tf.keras is Keras 3 on JAX
    (("keras3", "2.21.0", "3.15.1", "keras3", "jax", "0.7.2"), "TensorFlow 2.21.0, Keras 3.15.1 on JAX 0.7.2 (keras3)"),
    (("keras3", None, "3.15.1", "keras3", "jax", "0.7.2"), "Keras 3.15.1 on JAX 0.7.2 (keras3)"),
    (("keras3", None, "3.15.1", "keras3", "torch", "2.13.0+cpu"), "Keras 3.15.1 on PyTorch 2.13.0+cpu (keras3)"),
    (("keras3", None, "3.15.1", "keras3", "numpy", "2.3.4"), "Keras 3.15.1 on NumPy 2.3.4 (keras3)"),
    # a backend the table does not know, or whose version is unknown
    (("keras3", None, "3.99.0", "keras3", "newbackend", None), "Keras 3.99.0 on newbackend (keras3)"),
    (("keras3", None, "3.15.1", "keras3", "torch", None), "Keras 3.15.1 on PyTorch (keras3)"),
    # a Keras 3 whose backend could not be read
    (("keras3", None, "3.15.1", "keras3"), "Keras 3.15.1 (keras3)"),
]


@pytest.mark.parametrize("fields,expected", FORMS, ids=[text for _, text in FORMS])
def test_describe_forms(fields, expected):
    kind, tf, keras, family = fields[:4]
    assert F.Flavour(kind, None, tf, keras, family, *fields[4:]).describe() == expected


def test_without_tf_or_keras_check_says_so(capsys):
    if is_installed("tensorflow") or is_installed("keras"):
        pytest.skip("TensorFlow or Keras is installed here (the live form is in tests/test_live.py)")
    assert main(["check"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1] == "installed: %s" % NOTHING_INSTALLED
    assert out[2].endswith("; no TensorFlow or Keras installed, so serialize/deserialize/install() were not checked")
    assert not any(" on " in line for line in out[1:3])
    assert F.detected_description() == NOTHING_INSTALLED

"""The read edge on what stand-alone Keras 1.2 and 2.0-2.3 wrote (``keras.optimizers``).

Each config below is the key set that version's ``Optimizer.get_config()``
returns (checked against the ``keras/optimizers.py`` of those releases), with
what each key means for the canonical dict:

- ``lr`` (Keras 1.2-2.2; 2.3 writes ``learning_rate``): the learning rate.
- ``decay`` (every class but Nadam): inverse-time learning-rate decay per
  step, ``lr / (1 + decay * iterations)``; TF 2.9's legacy ``decay``.
- ``schedule_decay`` (Nadam only): the momentum-schedule decay
  (``beta_1 * (1 - 0.5 * 0.96 ** (t * schedule_decay))``), which legacy
  tf.keras Nadam takes as ``schedule_decay`` and writes as ``decay``.
- ``epsilon``: fuzz factor; 1e-8 by default in Keras 1.2/2.0, ``None`` ->
  ``K.epsilon()`` (1e-7) from Keras 2.1, always written as a number.
- ``clipnorm``/``clipvalue``: written only when the user set them.
- Adagrad (Keras 1.2-2.3) has no ``initial_accumulator_value``: its
  accumulators start at 0, which its dict does not say, so the canonical dict
  gets TF 2.9's default 0.1 like any dict without the key (README documents it).
"""

from __future__ import annotations

import pytest

from kerasopt_compat import InvalidConfigError, UnknownKeyError, normalize, to_native


def _cfg(class_name, **config):
    return {"class_name": class_name, "config": config}


#: (writer, native dict, expected canonical config)
OLD_KERAS = [
    (
        "keras 1.2 SGD with clipnorm",
        _cfg("SGD", lr=0.1, momentum=0.9, decay=0.001, nesterov=True, clipnorm=1.0),
        {"name": "SGD", "clipnorm": 1.0, "learning_rate": 0.1, "decay": 0.001, "momentum": 0.9, "nesterov": True},
    ),
    (
        "keras 1.2 RMSprop",
        _cfg("RMSprop", lr=0.001, rho=0.9, epsilon=1e-08, decay=0.0),
        {
            "name": "RMSprop",
            "learning_rate": 0.001,
            "decay": 0.0,
            "rho": 0.9,
            "momentum": 0.0,
            "epsilon": 1e-08,
            "centered": False,
        },
    ),
    (
        "keras 1.2 Adamax",
        _cfg("Adamax", lr=0.002, beta_1=0.9, beta_2=0.999, epsilon=1e-08, decay=0.0),
        {"name": "Adamax", "learning_rate": 0.002, "decay": 0.0, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-08},
    ),
    (
        "keras 1.2 Nadam",
        _cfg("Nadam", lr=0.002, beta_1=0.9, beta_2=0.999, epsilon=1e-08, schedule_decay=0.004),
        {"name": "Nadam", "learning_rate": 0.002, "decay": 0.004, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-08},
    ),
    (
        "keras 2.0 Adagrad (accumulators start at 0; the dict does not say so)",
        _cfg("Adagrad", epsilon=1e-08, lr=0.009999999776482582, decay=0.0),
        {"name": "Adagrad", "learning_rate": 0.01, "decay": 0.0, "initial_accumulator_value": 0.1, "epsilon": 1e-08},
    ),
    (
        "keras 2.0 Adadelta (default lr 1.0)",
        _cfg("Adadelta", lr=1.0, rho=0.95, epsilon=1e-08, decay=0.0),
        {"name": "Adadelta", "learning_rate": 1.0, "decay": 0.0, "rho": 0.95, "epsilon": 1e-08},
    ),
    (
        "keras 2.2 Adam with amsgrad and lr decay",
        _cfg("Adam", lr=0.0010000000474974513, beta_1=0.9, beta_2=0.999, decay=0.01, epsilon=1e-07, amsgrad=True),
        {
            "name": "Adam",
            "learning_rate": 0.001,
            "decay": 0.01,
            "beta_1": 0.9,
            "beta_2": 0.999,
            "epsilon": 1e-07,
            "amsgrad": True,
        },
    ),
    (
        "keras 2.2 Nadam (float32 values, non-default schedule_decay)",
        _cfg("Nadam", lr=0.0020000000949949026, beta_1=0.8999999761581421, beta_2=0.999, epsilon=1e-07, schedule_decay=0.01),
        {"name": "Nadam", "learning_rate": 0.002, "decay": 0.01, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-07},
    ),
    (
        "keras 2.3 Adadelta (learning_rate, no name)",
        _cfg("Adadelta", learning_rate=1.0, rho=0.95, decay=0.0, epsilon=1e-07),
        {"name": "Adadelta", "learning_rate": 1.0, "decay": 0.0, "rho": 0.95, "epsilon": 1e-07},
    ),
    (
        "epsilon None means K.epsilon() (1e-7)",
        _cfg("RMSprop", lr=0.001, rho=0.9, epsilon=None, decay=0.0),
        {
            "name": "RMSprop",
            "learning_rate": 0.001,
            "decay": 0.0,
            "rho": 0.9,
            "momentum": 0.0,
            "epsilon": 1e-07,
            "centered": False,
        },
    ),
]


@pytest.mark.parametrize("writer, native, expected", OLD_KERAS, ids=[w for w, _, _ in OLD_KERAS])
def test_old_keras_configs_read_with_their_meaning(writer, native, expected):
    out = normalize(native)
    assert out == {"class_name": native["class_name"], "config": expected}
    assert list(out["config"]) == list(expected)  # canonical key order


def test_nadam_schedule_decay_is_legacy_tf_keras_nadam_decay():
    """Legacy tf.keras Nadam (TF <= 2.10) writes the same setting as ``decay`` and reads it
    back only as ``schedule_decay``, so that is the key ``to_native`` writes for it."""
    old = _cfg("Nadam", lr=0.002, beta_1=0.9, beta_2=0.999, epsilon=1e-07, schedule_decay=0.01)
    tf29 = _cfg("Nadam", name="Nadam", learning_rate=0.002, decay=0.01, beta_1=0.9, beta_2=0.999, epsilon=1e-07)
    assert normalize(old) == normalize(tf29)
    native = to_native(old, "legacy")["config"]
    assert native["schedule_decay"] == 0.01 and "decay" not in native
    assert normalize({"class_name": "Nadam", "config": native}) == normalize(old)


def test_nadam_schedule_decay_and_decay_together_is_an_error():
    both = _cfg("Nadam", lr=0.002, decay=0.004, schedule_decay=0.01)
    with pytest.raises(InvalidConfigError, match="'decay' twice.*'decay'.*'schedule_decay'"):
        normalize(both)


def test_lr_and_learning_rate_together_is_an_error():
    with pytest.raises(InvalidConfigError, match="'learning_rate' twice.*'lr'.*'learning_rate'"):
        normalize(_cfg("SGD", lr=0.1, learning_rate=0.2))


def test_schedule_decay_is_only_nadams():
    with pytest.raises(UnknownKeyError, match="schedule_decay"):
        normalize(_cfg("Adam", lr=0.001, schedule_decay=0.004))


def test_epsilon_none_only_where_the_key_has_a_backend_default():
    with pytest.raises(TypeError):
        normalize(_cfg("RMSprop", rho=None))

"""Update rules that differ between optimizer generations, pure (no TensorFlow; numpy only where a product is computed).

:data:`RULE_DIFFERENCES` lists the classes whose legacy update rule differs from
the Keras 2/3 one (a restored state then continues under the installed rule, with
a warning naming the difference); :func:`nadam_product` recomputes Nadam's
momentum product for a generation's schedule. Read by the state readers and
writers (:mod:`kerasopt_compat._files`, :mod:`kerasopt_compat._state.layout`)
and by the live restore (:mod:`kerasopt_compat._keras.restore`).
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Tuple, Type

from .. import _errors as E

#: Nadam's momentum product: legacy ``_m_cache`` (stored as ``momentum_cache``),
#: Keras 2/3 ``_u_product``. Key of ``OptimizerState.extra``.
MOMENTUM_CACHE = "momentum_cache"


class RuleDifference(NamedTuple):
    """An update rule that differs between the legacy class and the Keras 2/3 one.

    Applies when ``when_falsy`` is None or the config value it names is falsy
    (RMSprop only without ``momentum``).
    """

    class_name: str
    when_falsy: Optional[str]
    warning: Type[E.StateScheduleWarning]
    what: str


#: Cross-generation (legacy <-> Keras 2/3) update-rule differences. Keras 2
#: and Keras 3 share their rules for these classes.
RULE_DIFFERENCES: Tuple[RuleDifference, ...] = (
    RuleDifference(
        "Nadam",
        None,
        E.NadamScheduleWarning,
        "the momentum schedule differs (legacy mu_t = beta_1*(1 - 0.5*0.96**(decay*t)) with decay 0.004, Keras 2/3 "
        "0.96**t); m and v are exact, the momentum product is recomputed for the installed schedule",
    ),
    RuleDifference(
        "RMSprop",
        "momentum",
        E.EpsilonPlacementWarning,
        "without momentum the legacy class adds epsilon outside the square root (g/(sqrt(rms)+eps)), Keras 2/3 inside "
        "(g/sqrt(rms+eps))",
    ),
    RuleDifference(
        "Adagrad",
        None,
        E.EpsilonPlacementWarning,
        "the legacy class adds epsilon outside the square root (g/(sqrt(acc)+eps)), Keras 2/3 inside (g/sqrt(acc+eps))",
    ),
)


def rule_differences(class_name: Optional[str], cfg: Mapping[str, Any], saver: str, target: str) -> List[RuleDifference]:
    """The :data:`RULE_DIFFERENCES` that apply when ``saver``'s state is continued by ``target``'s class.

    >>> [r.warning.__name__ for r in rule_differences("RMSprop", {"momentum": 0.0}, "legacy", "keras3")]
    ['EpsilonPlacementWarning']
    >>> rule_differences("RMSprop", {"momentum": 0.0}, "keras2", "keras3")
    []
    """
    if same_rules(saver, target):
        return []
    return [
        rule
        for rule in RULE_DIFFERENCES
        if rule.class_name == class_name and not (rule.when_falsy is not None and cfg.get(rule.when_falsy))
    ]


#: Update bugs of one installed release's class: (release, class, generation, config key that
#: must be truthy) -> what happens. Verified in the release's wheel source.
NATIVE_UPDATE_BUGS: Dict[Tuple[str, str, str, str], str] = {
    ("tf2.9", "AdamW", "keras2", "weight_decay"): "TF 2.9's optimizers.experimental.AdamW applies its weight decay as "
    "variable.assign_sub(variable * (1 - lr * wd)), which scales every weight to lr * weight_decay of itself at each "
    "step (fixed in TF 2.10+); train with a TF that has the fix",
}


def nadam_product(generation: str, cfg: Mapping[str, Any], iterations: int) -> float:
    """Nadam's momentum product after ``iterations`` steps in ``generation``'s schedule, in float32."""
    import numpy as np  # heavy: only when a product is computed

    beta_1 = np.float32(cfg.get("beta_1", 0.9))
    rate = np.float32(cfg.get("decay", 0.004) or 0.004) if generation == "legacy" else np.float32(1.0)
    product = np.float32(1.0)
    for t in range(1, iterations + 1):
        u_t = beta_1 * (np.float32(1.0) - np.float32(0.5) * np.power(np.float32(0.96), rate * np.float32(t)))
        product = np.float32(product * u_t)
    return float(product)


#: TF1's ``MomentumOptimizer`` accumulates gradients, Keras' ``SGD`` (every generation) updates: the same
#: trajectory, nesterov or not, when ``m = -learning_rate * accum`` (:func:`tf1_momentum`).
TF1_MOMENTUM = (
    "TF1's MomentumOptimizer accumulates gradients (accum = momentum * accum + grad, var -= lr * accum), Keras' SGD "
    "updates (m = momentum * m - lr * grad, var += m): converted as m = -lr * accum with the installed learning rate"
)


def tf1_momentum(accum: Any, learning_rate: float) -> Any:
    """Keras SGD's ``momentum`` slot for a TF1 ``MomentumOptimizer`` accumulator (:data:`TF1_MOMENTUM`).

    >>> tf1_momentum(2.0, 0.5)
    -1.0
    """
    return accum * -float(learning_rate)


def same_rules(a: str, b: str) -> bool:
    return a == b or (a != "legacy" and b != "legacy")

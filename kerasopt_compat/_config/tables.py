"""The canonical model, as data.

Everything kerasopt_compat knows about optimizer classes, learning-rate
schedules and Keras flavours lives in this module. A new Keras release should
mean a new row here, not a new branch in the code that reads these tables.

Canonical shape (TF 2.9's documented ``tf.keras.optimizers.serialize``)::

    {'class_name': 'SGD', 'config': {'name': 'SGD', 'learning_rate': 0.01,
                                     'decay': 0.0, 'momentum': 0.0, 'nesterov': False}}

Key order rule (one rule for every class): ``name``; then the optimizer-wide
:data:`OPTIONS` that differ from their default, in :data:`OPTIONS` order
(where TF 2.9 put ``clipnorm``); then the class keys of :data:`OPTIMIZERS`,
always present, in table order. Schedules list their keys in TF 2.9 order and
append keys TF 2.9 did not have (:attr:`ScheduleSpec.extras`) only when they
differ from their default.
"""

from __future__ import annotations

from typing import Any, Dict, FrozenSet, NamedTuple, Optional, Tuple


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


#: Default of a key that has no default (a schedule's ``decay_steps``...).
REQUIRED: Any = _Required()


class Key(NamedTuple):
    """One config key: canonical name, default, value kind."""

    name: str
    default: Any
    #: float | lr | bool | int | opt_float | opt_int | number | opt_number |
    #: number_list | str_list | name | optimizer
    kind: str
    #: other values meaning the same as ``default`` (normalized to it)
    neutral: Tuple[Any, ...] = ()


def _hypers(lr: float, *keys: Key, decay: float = 0.0) -> Tuple[Key, ...]:
    return (Key("learning_rate", lr, "lr"), Key("decay", decay, "float")) + keys


_B1 = Key("beta_1", 0.9, "float")
_B2 = Key("beta_2", 0.999, "float")
#: ``epsilon: None`` means the backend's ``K.epsilon()`` (1e-07): Keras 2.1-2.2
#: constructors and legacy tf.keras (``epsilon or backend.epsilon()``) replace it.
_EPS = Key("epsilon", 1e-07, "float", (None,))
_AMSGRAD = Key("amsgrad", False, "bool")

#: Canonical ``config`` keys per optimizer class, after ``name`` and options.
#: The first eight are TF 2.9's classes, exactly as TF 2.9 emits them; the
#: others follow the same style (learning_rate, decay, then the class's own
#: hyperparameters in the order of the newest Keras constructor).
OPTIMIZERS: Dict[str, Tuple[Key, ...]] = {
    "Adadelta": _hypers(0.001, Key("rho", 0.95, "float"), _EPS),
    "Adagrad": _hypers(0.001, Key("initial_accumulator_value", 0.1, "float"), _EPS),
    "Adam": _hypers(0.001, _B1, _B2, _EPS, _AMSGRAD),
    "Adamax": _hypers(0.001, _B1, _B2, _EPS),
    "Ftrl": _hypers(
        0.001,
        Key("initial_accumulator_value", 0.1, "float"),
        Key("learning_rate_power", -0.5, "float"),
        Key("l1_regularization_strength", 0.0, "float"),
        Key("l2_regularization_strength", 0.0, "float"),
        Key("beta", 0.0, "float"),
        Key("l2_shrinkage_regularization_strength", 0.0, "float"),
    ),
    # Legacy Nadam's ``decay`` is its momentum-schedule decay (default 0.004),
    # not learning-rate decay: see MOMENTUM_DECAY_CLASSES.
    "Nadam": _hypers(0.001, _B1, _B2, _EPS, decay=0.004),
    "RMSprop": _hypers(
        0.001,
        Key("rho", 0.9, "float"),
        Key("momentum", 0.0, "float"),
        _EPS,
        Key("centered", False, "bool"),
    ),
    "SGD": _hypers(0.01, Key("momentum", 0.0, "float"), Key("nesterov", False, "bool")),
    # Classes TF 2.9's tf.keras.optimizers did not have.
    "AdamW": _hypers(0.001, Key("weight_decay", 0.004, "float"), _B1, _B2, _EPS, _AMSGRAD),
    "Adafactor": _hypers(
        0.001,
        Key("beta_2_decay", -0.8, "float"),
        Key("epsilon_1", 1e-30, "float"),
        Key("epsilon_2", 0.001, "float"),
        Key("clip_threshold", 1.0, "float"),
        Key("relative_step", True, "bool"),
    ),
    "Lamb": _hypers(0.001, _B1, _B2, _EPS),
    "Lion": _hypers(0.001, _B1, Key("beta_2", 0.99, "float")),
    "Muon": _hypers(
        0.001,
        Key("weight_decay", 0.004, "float"),
        Key("adam_beta_1", 0.9, "float"),
        Key("adam_beta_2", 0.999, "float"),
        Key("adam_weight_decay", 0.004, "float"),
        _EPS,
        Key("exclude_layers", (), "str_list", (None,)),
        Key("exclude_embeddings", True, "bool"),
        Key("muon_a", 3.4445, "float"),
        Key("muon_b", -4.775, "float"),
        Key("muon_c", 2.0315, "float"),
        Key("adam_lr_ratio", 1.0, "float"),
        Key("momentum", 0.95, "float"),
        Key("ns_steps", 5, "int"),
        Key("nesterov", True, "bool"),
        Key("rms_rate", 0.2, "opt_float"),
    ),
    "ScheduleFreeAdamW": _hypers(0.0025, _B1, _B2, Key("epsilon", 1e-08, "float"), Key("warmup_steps", 0, "int")),
}

#: Class keys TF 2.9 did not have, added to a class in a later release.
#: Emitted after the class keys of :data:`OPTIMIZERS`, in this order, only
#: when they differ from their default (like :attr:`ScheduleSpec.extras`).
OPTIMIZER_EXTRAS: Dict[str, Tuple[Key, ...]] = {
    # tf_keras 2.21 (new) Adam; its get_config() omits it (fixes.complete_config).
    "Adam": (Key("adaptive_epsilon", False, "bool"),),
}

#: The eight classes of TF 2.9's ``tf.keras.optimizers`` (the documented contract).
DOCUMENTED_CLASSES: FrozenSet[str] = frozenset(["Adadelta", "Adagrad", "Adam", "Adamax", "Ftrl", "Nadam", "RMSprop", "SGD"])

#: Classes whose ``decay`` key is not learning-rate decay.
MOMENTUM_DECAY_CLASSES: FrozenSet[str] = frozenset(["Nadam"])

#: Optimizer-wide settings TF 2.9 did not emit by default. Present in the
#: canonical config only when they differ from their default, right after
#: ``name`` (where TF 2.9 puts ``clipnorm``), in this order. TF 2.9's own
#: order for the first three is clipnorm, clipvalue, global_clipnorm.
OPTIONS: Tuple[Key, ...] = (
    Key("clipnorm", None, "opt_float"),
    Key("clipvalue", None, "opt_float"),
    Key("global_clipnorm", None, "opt_float"),
    Key("weight_decay", None, "opt_float", (0.0,)),
    Key("use_ema", False, "bool"),
    Key("ema_momentum", 0.99, "float"),
    Key("ema_overwrite_frequency", None, "opt_int"),
    Key("loss_scale_factor", None, "opt_float"),
    Key("gradient_accumulation_steps", None, "opt_int"),
)

#: Options that only take effect when another option is set: without it they
#: are dropped on read (Keras 2.11-2.15 RMSprop carries
#: ``ema_overwrite_frequency: 100`` even with ``use_ema=False``).
OPTION_REQUIRES: Dict[str, str] = {"ema_momentum": "use_ema", "ema_overwrite_frequency": "use_ema"}

#: Native keys that are renamed on read (``lr``: Keras 1.x-2.2 and TF <= 2.10).
KEY_ALIASES: Dict[str, str] = {"lr": "learning_rate"}

#: Native keys renamed on read for one class only: (class, native key) -> key.
#: Keras 1.x-2.2 ``Nadam`` writes its momentum-schedule decay as
#: ``schedule_decay``; legacy tf.keras Nadam takes the same kwarg and calls it
#: ``decay`` (canonical Nadam ``decay``, see MOMENTUM_DECAY_CLASSES).
CLASS_KEY_ALIASES: Dict[Tuple[str, str], str] = {("Nadam", "schedule_decay"): "decay"}

#: Native keys that carry no optimizer setting and are dropped on read.
#: ``is_legacy_optimizer``: Keras 2.10-2.15/tf_keras routing flag.
#: ``jit_compile``: Keras 2.11-2.15/tf_keras execution setting.
DROPPED_KEYS: FrozenSet[str] = frozenset(["is_legacy_optimizer", "jit_compile"])

#: Top-level keys a serialized object may have besides class_name/config.
#: ``module`` and ``registered_name`` (Keras 2.13+) are read as data only and
#: never used to import or look anything up.
IGNORED_TOP_LEVEL: FrozenSet[str] = frozenset(["module", "registered_name"])

#: Top-level keys that only a whole model's config has (``model.to_json()``,
#: a ``.keras`` archive's ``config.json``, an ``.h5`` ``model_config``,
#: a TF.js ``model.json``): such a dict is reported as a model, not read.
MODEL_TOP_LEVEL: FrozenSet[str] = frozenset(
    ["keras_version", "backend", "compile_config", "build_config", "training_config", "modelTopology", "model_config"]
)
#: A key of ``config`` that only a model (Sequential, Functional) has.
MODEL_CONFIG_KEY = "layers"

#: Package prefixes Keras itself put in a ``class_name`` (``Custom>SGD``: the
#: new optimizers of TF 2.9-2.12). Any other ``package>Name`` class_name, and
#: any ``package>Name`` ``registered_name`` (Keras' own classes write ``None``
#: or a bare name there), is a user's registration: a user class even when its
#: bare name is a Keras class name (``p>Adam``). Read as data, never resolved.
KERAS_CLASS_PACKAGES: FrozenSet[str] = frozenset(["Custom"])

#: ``module`` suffix and ``config`` flag with which a native dict says it came
#: from an OptimizerV2 (``optimizers.legacy``) class; a hint for choosing among
#: the installed classes, never imported.
LEGACY_MODULE_SUFFIX = ".legacy"
LEGACY_FLAG = "is_legacy_optimizer"

#: Native class names of the loss-scale wrapper, all read as LossScaleOptimizer.
LOSS_SCALE_CLASS = "LossScaleOptimizer"
CLASS_ALIASES: Dict[str, str] = {
    "LossScaleOptimizerV3": LOSS_SCALE_CLASS,  # Keras 2.11-2.15, tf_keras
    "LossScaleOptimizerV1": LOSS_SCALE_CLASS,  # TF 2.4-2.10 experimental alias
}

#: LossScaleOptimizer config, TF 2.9 order (TF 2.9 has no ``name`` key; a
#: user-chosen name is kept after these keys, then any non-default OPTIONS,
#: which Keras 3.3-3.x LossScaleOptimizer configs carry for the wrapper).
LOSS_SCALE_KEYS: Tuple[Key, ...] = (
    Key("inner_optimizer", REQUIRED, "optimizer"),
    Key("dynamic", True, "bool"),
    Key("initial_scale", 32768.0, "float"),
    Key("dynamic_growth_steps", 2000, "opt_int"),  # None when dynamic=False (TF 2.4-2.10)
)
LOSS_SCALE_EXTRAS: Tuple[Key, ...] = (Key("name", None, "opt_name"),)
LOSS_SCALE_AUTO_NAMES: FrozenSet[str] = frozenset(["loss_scale_optimizer", "LossScaleOptimizer", "LossScaleOptimizerV3"])


#: Keras 3.15+ ``optimizers.MultiOptimizer`` (per-variable optimizers). Canonical
#: config: ``default_optimizer`` and ``optimizer_map`` ({variable-path pattern:
#: optimizer}, input order), optimizers in canonical form (no wrappers inside),
#: then a chosen ``name``, then the non-default OPTIONS (it takes
#: ``loss_scale_factor``). Keras writes the two inside a serialized
#: ``OptimizerMap`` (``config['optimizer_map']``); both shapes are read.
MULTI_CLASS = "MultiOptimizer"
OPTIMIZER_MAP_CLASS = "OptimizerMap"
MULTI_KEYS: Tuple[Key, ...] = (
    Key("default_optimizer", REQUIRED, "optimizer"),
    Key("optimizer_map", REQUIRED, "optimizer_map"),
)
MULTI_EXTRAS: Tuple[Key, ...] = (Key("name", None, "opt_name"),)


class ScheduleSpec(NamedTuple):
    keys: Tuple[Key, ...]  # TF 2.9 keys in TF 2.9 order (``name`` last)
    extras: Tuple[Key, ...]  # later keys, emitted only when not default
    auto_names: FrozenSet[str]  # default names Keras gave; canonical None
    keras3_name: str  # Keras 3's default name (Keras 3 schedules need a str name)


def _sched(*keys: Key, extras: Tuple[Key, ...] = (), auto: Tuple[str, ...] = ()) -> ScheduleSpec:
    return ScheduleSpec(keys + (Key("name", None, "opt_name"),), extras, frozenset(auto), auto[0])


_ILR = Key("initial_learning_rate", REQUIRED, "number")
_STEPS = Key("decay_steps", REQUIRED, "number")

#: Learning-rate schedules (``tf.keras.optimizers.schedules``).
SCHEDULES: Dict[str, ScheduleSpec] = {
    "ExponentialDecay": _sched(
        _ILR,
        _STEPS,
        Key("decay_rate", REQUIRED, "number"),
        Key("staircase", False, "bool"),
        auto=("ExponentialDecay",),
    ),
    "PiecewiseConstantDecay": _sched(
        Key("boundaries", REQUIRED, "number_list"),
        Key("values", REQUIRED, "number_list"),
        auto=("PiecewiseConstant", "PiecewiseConstantDecay"),
    ),
    "PolynomialDecay": _sched(
        _ILR,
        _STEPS,
        Key("end_learning_rate", 0.0001, "number"),
        Key("power", 1.0, "number"),
        Key("cycle", False, "bool"),
        auto=("PolynomialDecay",),
    ),
    "InverseTimeDecay": _sched(
        _ILR,
        _STEPS,
        Key("decay_rate", REQUIRED, "number"),
        Key("staircase", False, "bool"),
        auto=("InverseTimeDecay",),
    ),
    "CosineDecay": _sched(
        _ILR,
        _STEPS,
        Key("alpha", 0.0, "number"),
        # Warm-up: Keras 2.13+ and Keras 3.
        extras=(Key("warmup_target", None, "opt_number"), Key("warmup_steps", 0, "number")),
        auto=("CosineDecay",),
    ),
    "CosineDecayRestarts": _sched(
        _ILR,
        Key("first_decay_steps", REQUIRED, "number"),
        Key("t_mul", 2.0, "number"),
        Key("m_mul", 1.0, "number"),
        Key("alpha", 0.0, "number"),
        auto=("SGDRDecay", "CosineDecayRestarts"),
    ),
}


class Family(NamedTuple):
    """How one generation of Keras optimizers spells a config (the write edge)."""

    #: optimizer classes this generation has (in its newest release)
    classes: FrozenSet[str]
    #: optimizer-wide OPTIONS its constructors accept
    options: FrozenSet[str]
    #: its get_config() lists every option, defaults included (so the write
    #: edge passes them all, and a constructor default that differs from the
    #: canonical one, like Keras 2 RMSprop's ema_overwrite_frequency=100, never
    #: leaks in)
    all_options: bool
    #: whether its constructors take legacy learning-rate ``decay``
    lr_decay: bool
    #: canonical key -> the key its native dict (and constructor) uses, per class
    kwarg_renames: Dict[Tuple[str, str], str]
    #: fixed keys its own ``get_config()`` adds (written, never read)
    config_extras: Dict[str, Any]
    #: fixed top-level keys its ``serialize()`` adds
    top_level: Dict[str, Any]
    #: LossScaleOptimizer: native class name and the canonical keys it takes
    loss_scale_class: str
    loss_scale_keys: Tuple[str, ...]
    #: top-level keys of serialized schedules
    schedule_top_level: Dict[str, Any]
    #: schedules need a string name (Keras 3 raises at the first step on None)
    schedule_name_required: bool
    #: classes that refuse a learning-rate schedule (legacy Nadam)
    no_schedule: FrozenSet[str]
    #: keys whose 0 the constructor silently replaces by its default
    #: (legacy ``epsilon or backend.epsilon()``)
    zero_replaced: FrozenSet[str]
    #: MultiOptimizer: canonical keys its constructor takes besides the map
    #: (empty: this generation has no MultiOptimizer)
    multi_optimizer_keys: Tuple[str, ...] = ()
    #: prefix of an optimizer's ``class_name``: its registered package, where the
    #: loader finds the class only by its registered name (``Custom>AdamW``)
    class_prefix: str = ""


_CLIP = frozenset(["clipnorm", "clipvalue", "global_clipnorm"])
_EMA = frozenset(["use_ema", "ema_momentum", "ema_overwrite_frequency"])
_KERAS2_OPTIONS = _CLIP | _EMA | {"weight_decay"}

FAMILIES: Dict[str, Family] = {
    # OptimizerV2: TF 2.4-2.10 ``optimizers``; ``optimizers.legacy`` of
    # Keras 2.11-2.15 and tf_keras.
    "legacy": Family(
        classes=DOCUMENTED_CLASSES,
        options=_CLIP,
        all_options=False,
        lr_decay=True,
        # Legacy Nadam overwrites a ``decay`` kwarg with ``schedule_decay``
        # (default 0.004), so its momentum decay is written and passed under that
        # name: its own get_config() writes ``decay``, which its own
        # from_config() then loses (TF 2.4-2.10, optimizers.legacy up to tf_keras
        # 2.21); ``schedule_decay`` is what Keras 1.x-2.3 wrote and every legacy
        # Nadam reads.
        kwarg_renames={("Nadam", "decay"): "schedule_decay"},
        config_extras={},
        top_level={},
        loss_scale_class="LossScaleOptimizer",
        loss_scale_keys=("inner_optimizer", "dynamic", "initial_scale", "dynamic_growth_steps"),
        schedule_top_level={},
        schedule_name_required=False,
        no_schedule=frozenset(["Nadam"]),
        zero_replaced=frozenset(["epsilon"]),
    ),
    # The "new" Keras 2 optimizers: ``optimizers`` of Keras 2.11-2.15 and
    # tf_keras (``optimizers.experimental`` of 2.9/2.10: EXPERIMENTAL_TF29).
    "keras2": Family(
        classes=DOCUMENTED_CLASSES | {"AdamW", "Adafactor", "Lion"},
        options=_KERAS2_OPTIONS,
        all_options=True,
        lr_decay=False,
        kwarg_renames={},
        config_extras={"is_legacy_optimizer": False},
        top_level={},
        loss_scale_class="LossScaleOptimizerV3",
        loss_scale_keys=("inner_optimizer", "dynamic", "initial_scale", "dynamic_growth_steps"),
        schedule_top_level={},
        schedule_name_required=False,
        no_schedule=frozenset(),
        zero_replaced=frozenset(),
    ),
    # Keras 3 (stand-alone, or behind TF 2.16+).
    "keras3": Family(
        classes=frozenset(OPTIMIZERS),
        options=frozenset(k.name for k in OPTIONS),
        all_options=True,
        lr_decay=False,
        kwarg_renames={},
        config_extras={},
        top_level={"module": "keras.optimizers", "registered_name": None},
        loss_scale_class="LossScaleOptimizer",
        # Always dynamic (no ``dynamic``); takes a name and the optimizer options.
        loss_scale_keys=("name", "inner_optimizer", "initial_scale", "dynamic_growth_steps") + tuple(k.name for k in OPTIONS),
        schedule_top_level={"module": "keras.optimizers.schedules", "registered_name": None},
        schedule_name_required=True,
        no_schedule=frozenset(),
        zero_replaced=frozenset(),
        multi_optimizer_keys=("name", "loss_scale_factor"),
    ),
}

#: First release that ships each class, per generation, for error messages
#: (``None``: that generation never has it). Checked against the file lists of
#: the keras 2.11/2.12/2.13 and 3.0-3.14 wheels on PyPI.
FIRST_RELEASE: Dict[str, Dict[str, Optional[str]]] = {
    "AdamW": {"keras2": "TF 2.13 (tf.keras.optimizers.experimental.AdamW since TF 2.9)", "keras3": "Keras 3.0"},
    "Adafactor": {"keras2": "TF 2.13 (tf.keras.optimizers.experimental.Adafactor since TF 2.11)", "keras3": "Keras 3.0"},
    "Lion": {"keras2": "TF 2.13", "keras3": "Keras 3.0"},
    "Lamb": {"keras2": None, "keras3": "Keras 3.5"},
    "Muon": {"keras2": None, "keras3": "Keras 3.10"},
    "ScheduleFreeAdamW": {"keras2": None, "keras3": "Keras 3.14"},
    # keras 3.14.0's wheel has no optimizers/multi_optimizer.py; 3.15.1's has.
    MULTI_CLASS: {"keras2": None, "keras3": "Keras 3.15"},
}


#: ``optimizers.experimental`` of TF 2.9 (the new Keras 2 optimizers as first
#: shipped; checked in the TF 2.9.3 and 2.10.1 wheels): the eight documented
#: classes and AdamW; clip and EMA options but no optimizer-wide
#: ``weight_decay`` (AdamW's own only); ``serialize()`` writes the registered
#: name (``Custom>AdamW``), the only name their ``optimizers.deserialize``
#: finds them by (plain ``AdamW`` is "Unknown optimizer"); TF 2.9's
#: constructors raise TypeError on ``is_legacy_optimizer``.
EXPERIMENTAL_TF29 = FAMILIES["keras2"]._replace(
    classes=DOCUMENTED_CLASSES | {"AdamW"}, options=_CLIP | _EMA, config_extras={}, class_prefix="Custom>"
)
#: TF 2.10's: the same, and its get_config() writes ``is_legacy_optimizer: False`` (its constructors drop it).
EXPERIMENTAL_TF210 = EXPERIMENTAL_TF29._replace(config_extras={"is_legacy_optimizer": False})


class Release(NamedTuple):
    """A release ``to_native``/``--to`` can target: what its ``tf.keras.optimizers`` writes."""

    #: the generation (a key of :data:`FAMILIES`)
    generation: str
    #: classes (optimizers and schedules) of that generation this release lacks
    lacks: FrozenSet[str] = frozenset()
    #: whether its schedules take the keys TF 2.9 lacked (CosineDecay warm-up, TF 2.13+)
    schedule_extras: bool = True
    #: another namespace its own ``optimizers.deserialize`` builds, as
    #: (generation, how it spells a config): written only where the
    #: generation's own class would lose a setting, by the rule
    #: :func:`~kerasopt_compat.deserialize` uses to pick among the installed
    #: namespaces (TF 2.9/2.10 ``optimizers.experimental``: AdamW, EMA)
    also: Optional[Tuple[str, Family]] = None
    #: how this release spells its own generation, where it differs from
    #: ``FAMILIES[generation]`` (TF 2.11/2.12: without AdamW/Adafactor, which
    #: they read only in ``also``'s spelling)
    spelling: Optional[Family] = None


#: TF 2.11/2.12 have no Lion. Their AdamW and Adafactor live only in
#: ``optimizers.experimental``, which their ``optimizers.deserialize`` finds by
#: the registered name their own ``serialize`` writes (``Custom>AdamW``,
#: ``Custom>Adafactor``; plain ``AdamW`` is "Unknown optimizer", seen in the
#: TF 2.11 wheel): written that way, as TF 2.9/2.10's experimental AdamW is.
_TF211_LACKS = frozenset(["Lion"])
_TF211_EXPERIMENTAL = frozenset(["AdamW", "Adafactor"])
_TF211 = FAMILIES["keras2"]._replace(classes=FAMILIES["keras2"].classes - _TF211_EXPERIMENTAL - _TF211_LACKS)
_TF211_ALSO = ("keras2", FAMILIES["keras2"]._replace(classes=_TF211_EXPERIMENTAL, class_prefix="Custom>"))
#: Releases by name (tested ones only; checked against each tox env's own
#: ``optimizers.deserialize`` by tests/test_native_loader.py). ``keras3`` is the
#: newest Keras 3 (stand-alone or behind TF 2.16+); older Keras 3 releases lack
#: the classes FIRST_RELEASE lists.
RELEASES: Dict[str, Release] = {
    # TF 2.4 has CosineDecay only as tf.keras.experimental.CosineDecay
    "tf2.4": Release("legacy", frozenset(["CosineDecay", "CosineDecayRestarts"]), schedule_extras=False),
    "tf2.8": Release("legacy", schedule_extras=False),
    "tf2.9": Release("legacy", schedule_extras=False, also=("keras2", EXPERIMENTAL_TF29)),
    "tf2.10": Release("legacy", schedule_extras=False, also=("keras2", EXPERIMENTAL_TF210)),
    "tf2.11": Release("keras2", _TF211_LACKS, schedule_extras=False, also=_TF211_ALSO, spelling=_TF211),
    "tf2.12": Release("keras2", _TF211_LACKS, schedule_extras=False, also=_TF211_ALSO, spelling=_TF211),
    **{"tf2.%d" % minor: Release("keras2") for minor in range(13, 16)},
    "tf_keras": Release("keras2"),
    **{"tf2.%d" % minor: Release("keras3") for minor in range(16, 22)},
    "keras3": Release("keras3"),
}
#: Keras 3 minor releases (``keras3.3`` ... ``keras3.15``): Keras 3 without the
#: classes FIRST_RELEASE dates later.
RELEASES.update(
    (
        "keras3.%d" % minor,
        Release(
            "keras3",
            frozenset(
                cls for cls, since in FIRST_RELEASE.items() if since["keras3"] and int(since["keras3"].rsplit(".", 1)[1]) > minor
            ),
        ),
    )
    for minor in range(3, 16)
)
#: The generation names, also accepted wherever a release is.
GENERATION_NAMES: Tuple[str, ...] = ("legacy", "keras2", "keras3")


class V1Mapping(NamedTuple):
    """How a ``tf.compat.v1.train`` optimizer maps to a canonical Keras class."""

    keras_class: str
    #: (private attribute of the v1 object, canonical key)
    attrs: Tuple[Tuple[str, str], ...]
    #: canonical values implied by the v1 algorithm itself
    fixed: Dict[str, Any]
    #: the v1 class's default ``name``
    default_name: str


_V1_LR = ("_learning_rate", "learning_rate")

#: ``tf.compat.v1.train`` optimizers with a Keras equivalent. Their
#: hyperparameters live in private attributes (there is no get_config()).
V1_TRAIN: Dict[str, V1Mapping] = {
    "GradientDescentOptimizer": V1Mapping("SGD", (_V1_LR,), {}, "GradientDescent"),
    "MomentumOptimizer": V1Mapping("SGD", (_V1_LR, ("_momentum", "momentum"), ("_use_nesterov", "nesterov")), {}, "Momentum"),
    "AdamOptimizer": V1Mapping(
        "Adam",
        (("_lr", "learning_rate"), ("_beta1", "beta_1"), ("_beta2", "beta_2"), ("_epsilon", "epsilon")),
        {},
        "Adam",
    ),
    # v1 Adagrad divides by sqrt(accumulator) with no epsilon.
    "AdagradOptimizer": V1Mapping(
        "Adagrad", (_V1_LR, ("_initial_accumulator_value", "initial_accumulator_value")), {"epsilon": 0.0}, "Adagrad"
    ),
    "AdadeltaOptimizer": V1Mapping(
        "Adadelta", (("_lr", "learning_rate"), ("_rho", "rho"), ("_epsilon", "epsilon")), {}, "Adadelta"
    ),
    # v1 RMSProp's ``decay`` is Keras' ``rho``.
    "RMSPropOptimizer": V1Mapping(
        "RMSprop",
        (_V1_LR, ("_decay", "rho"), ("_momentum", "momentum"), ("_epsilon", "epsilon"), ("_centered", "centered")),
        {},
        "RMSProp",
    ),
    "FtrlOptimizer": V1Mapping(
        "Ftrl",
        (
            _V1_LR,
            ("_learning_rate_power", "learning_rate_power"),
            ("_initial_accumulator_value", "initial_accumulator_value"),
            ("_l1_regularization_strength", "l1_regularization_strength"),
            ("_l2_regularization_strength", "l2_regularization_strength"),
            ("_l2_shrinkage_regularization_strength", "l2_shrinkage_regularization_strength"),
            ("_beta", "beta"),
        ),
        {},
        "Ftrl",
    ),
}

#: ``tf.compat.v1.train`` optimizers with no Keras equivalent, and why.
V1_UNMAPPED: Dict[str, str] = {
    "ProximalAdagradOptimizer": "proximal Adagrad (FOBOS with L1/L2) has no Keras optimizer",
    "ProximalGradientDescentOptimizer": "proximal gradient descent (FOBOS with L1/L2) has no Keras optimizer",
    "AdagradDAOptimizer": "Adagrad dual averaging has no Keras optimizer",
    "SyncReplicasOptimizer": "it is a distribution wrapper, not an algorithm; serialize the optimizer it wraps",
    "LossScaleOptimizer": "v1 mixed-precision wrapper; use tf.keras.mixed_precision.LossScaleOptimizer",
    "MixedPrecisionLossScaleOptimizer": "v1 mixed-precision wrapper; use tf.keras.mixed_precision.LossScaleOptimizer",
}


# --------------------------------------------------------------------------- model files

#: (container format, loader, native class name or "*") -> top-level keys the
#: loader expects on the optimizer entry of a model file, beyond what
#: ``to_native`` writes. ``loader`` is a generation, or ``"tf_keras"`` where
#: tf_keras differs from Keras 2.13-2.15 (looked up first). ``.keras``
#: archives of Keras 2.13-2.15/tf_keras are read with
#: ``serialization_lib.deserialize_keras_object``, which finds a class by its
#: ``module`` (what those versions write themselves; without it Keras 2.15
#: reports "Could not locate class 'LossScaleOptimizerV3'").
MODEL_FILE_TOP_LEVEL: Dict[Tuple[str, str, str], Dict[str, Any]] = {
    ("keras", "keras2", "*"): {"module": "keras.optimizers", "registered_name": None},
    ("keras", "keras2", "LossScaleOptimizerV3"): {
        "module": "keras.src.mixed_precision.loss_scale_optimizer",
        "registered_name": "LossScaleOptimizerV3",
    },
    ("keras", "tf_keras", "LossScaleOptimizerV3"): {
        "module": "tf_keras.src.mixed_precision.loss_scale_optimizer",
        "registered_name": "LossScaleOptimizerV3",
    },
}

#: (container format, loader, canonical class) -> the ``class_name`` that loader
#: finds the class by in a model file's stored optimizer (also a wrapper's
#: ``inner_optimizer``), where it differs from ``to_native``'s. The ``.h5`` and
#: SavedModel loaders of Keras 2.13-2.15 build the optimizer with
#: ``optimizers.deserialize(training_config["optimizer_config"])``, whose class
#: table has no AdamW, Lion or Adafactor: plain ``AdamW`` is "Unknown optimizer"
#: (or the bare string back), but the registered name their own ``.h5`` writer
#: stores (``Custom>AdamW``) is found, as it is by tf_keras and TF 2.11/2.12
#: (checked in the TF 2.13, 2.14, 2.15 and tf_keras 2.21 wheels). ``.keras``
#: archives are read another way (``module``: MODEL_FILE_TOP_LEVEL).
MODEL_FILE_CLASS_NAMES: Dict[Tuple[str, str, str], str] = {
    (fmt, "keras2", cls): "Custom>" + cls for fmt in ("h5", "savedmodel") for cls in ("AdamW", "Adafactor", "Lion")
}

#: Release names whose loader differs from the rest of their generation in
#: MODEL_FILE_TOP_LEVEL.
RELEASE_LOADERS: Dict[str, str] = {"tf_keras": "tf_keras"}

#: Compile arguments a model file stores as null that a loader needs a value
#: for: (format, generation) -> {key: value}. Keras 2.13-2.15 and tf_keras
#: write ``steps_per_execution: null`` (meaning 1) into a ``.keras`` archive;
#: Keras 3 compiles with it and its first fit() raises "'NoneType' object
#: cannot be interpreted as an integer". Goes with Keras 2 ``.keras`` files.
COMPILE_NULL_DEFAULTS: Dict[Tuple[str, str], Dict[str, Any]] = {("keras", "keras3"): {"steps_per_execution": 1}}

#: Native loaders that compile a model file's stored metrics into ones that fail at
#: the first training step: (format, generation) -> the stored metric config class
#: they get wrong. Keras 3's legacy ``.h5`` loader (3.0-3.15 at least) rebuilds a
#: Keras 2 ``MeanMetricWrapper`` with its ``fn`` left a string ("'str' object is not
#: callable" in fit); ``load_model`` compiles such a model again with the metrics
#: resolved (``_models.load._compile_args``) when they all resolve. Goes when Keras 3 reads them.
NATIVE_METRICS_BROKEN: Dict[Tuple[str, str], str] = {("h5", "keras3"): "MeanMetricWrapper"}

#: Top-level keys of nested objects that only model files carry: Keras 2's
#: ``SharedObjectSavingScope`` (TF 2.5-2.15, tf_keras) tags configs in
#: SavedModel metadata with ``shared_object_id`` so shared objects are built
#: once. An identity marker, not a setting: dropped when reading the stored optimizer.
MODEL_FILE_DROPPED_TOP_LEVEL: FrozenSet[str] = frozenset(["shared_object_id"])


#: The model-file loader of each release (RELEASES key) and generation name,
#: for UNOPENABLE: TF 2.4-2.11 cannot open a .keras archive; TF 2.12-2.15 and
#: tf_keras open every Keras 2 format; Keras 3 (TF 2.16+) opens .keras and .h5
#: only. A generation name stands for all its releases.
FILE_LOADERS: Dict[str, Tuple[str, ...]] = {
    **{"tf2.%d" % minor: ("tf2.4-2.11",) for minor in (4, 8, 9, 10, 11)},
    **{"tf2.%d" % minor: ("tf2.12-2.15",) for minor in range(12, 16)},
    "tf_keras": ("tf_keras",),
    **{name: ("keras3",) for name, release in RELEASES.items() if release.generation == "keras3"},
    "legacy": ("tf2.4-2.11",),
    "keras2": ("tf2.4-2.11", "tf2.12-2.15", "tf_keras"),
}


#: Model-file formats a loader cannot open: (format, loader kind) -> what works
#: instead; "*" is every loader. Formats are those ``_files.model.file_kind``
#: names: the container read by content, plus an HDF5 file named ``.keras``
#: and a SavedModel without ``variables/``. Checked against the native loader
#: in every env (tests/test_file_formats.py); a row goes when no supported
#: release needs it.
UNOPENABLE: Dict[Tuple[str, str], str] = {
    ("tfjs", "*"): "no Keras load_model opens it; convert it first with the tensorflowjs converter "
    "(tensorflowjs_converter --input_format=tfjs_layers_model --output_format=keras model.json model.h5), "
    "or load it with tensorflowjs' own loader",
    ("savedmodel-no-variables", "*"): "it has no variables/ directory, so it holds no weights; "
    "save the model again with its variables",
    ("savedmodel", "keras3"): "Keras 3 cannot open TF 2.x SavedModels: load it with kerasopt_compat.load_model "
    "(which rebuilds it from keras_metadata.pb and variables/), with tf_keras "
    "(pip install tf_keras; TF_USE_LEGACY_KERAS=1), or use keras.layers.TFSMLayer(path) for inference only",
    ("keras", "tf2.4-2.11"): "TF 2.4-2.11 cannot open .keras archives (TF 2.12+, tf_keras and Keras 3 can): "
    "load it with one of those, or convert it to .h5 there",
    ("h5-named-keras", "keras3"): "it is an HDF5 (.h5) file with a .keras name, which Keras 3 opens only as a "
    "zip archive: rename (or copy) it to a name ending in .h5",
}


class ModelFeature(NamedTuple):
    """A model-config feature some releases' own ``load_model`` cannot build
    (a row of :data:`MODEL_FEATURES`)."""

    #: what the file stores, as the warning says it
    what: str
    #: how ``_files.model.unbuildable`` finds it in the stored model config, at an
    #: object (``{"class_name": ..., "config": {...}}``) of a class in ``classes``:
    #: ``"key"`` (``key`` in its config), ``"list"`` (its config's ``key`` is a
    #: list), ``"class"`` (its config's ``key`` is an object of class ``value``),
    #: ``"no_module"`` (its config's ``key`` is an object without ``module``),
    #: ``"module"`` (its own ``module`` is ``value``), ``"inbound"`` (it is a
    #: layer of a functional model whose ``inbound_nodes`` hold Keras 3's
    #: ``{"args": ..., "kwargs": ...}`` dicts); ``"op"`` (a SavedModel whose
    #: ``saved_model.pb`` runs the graph op ``value``); ``"file"`` (a
    #: SavedModel folder holding the file ``value``); or ``"saved_by"`` (a
    #: ``.keras`` archive whose ``metadata.json`` ``key`` is a Keras 2 version
    #: from ``value`` on)
    match: str
    #: the object classes it is looked for at (empty: every class)
    classes: FrozenSet[str]
    key: str
    value: Optional[str]
    #: the containers (``_files.model`` format names) whose loader fails on it
    formats: FrozenSet[str]
    #: which releases write it (for the message and the docs)
    written_by: str
    #: the releases (RELEASES keys) whose ``load_model`` cannot build it
    cannot: FrozenSet[str]
    #: what the target can open instead
    instead: str
    #: classes it is not looked for at (a model's own ``dtype``, which Keras 2 models ignore)
    skip: FrozenSet[str] = frozenset()


def _tf2(first: int, last: int) -> FrozenSet[str]:
    return frozenset("tf2.%d" % minor for minor in (4, *range(8, 22)) if first <= minor <= last)


def _newer_keras3(minor: int) -> str:
    return (
        "only Keras >= 3.%d builds it: load the file there (or with kerasopt_compat.load_model) and save the model "
        "from the target's Keras (tf_keras for a Keras 2 target), or target Keras >= 3.%d" % (minor, minor)
    )


def _keras3_before(minor: int) -> FrozenSet[str]:
    return frozenset("keras3.%d" % m for m in range(3, minor) if "keras3.%d" % m in RELEASES)


#: Every Keras 3 release name (TF 2.16+ and ``keras3``/``keras3.N``).
_KERAS3 = frozenset(name for name, release in RELEASES.items() if release.generation == "keras3")
#: The Keras 2 loaders (TF 2.4-2.15's tf.keras and tf_keras).
_KERAS2_LOADERS = _tf2(4, 15) | {"tf_keras"}
_FROM_KERAS3 = (
    "a Keras 2 loader builds what Keras 2 saves: rebuild the model in Keras 2 (tf_keras, TF 2.15) and save it "
    "there (kerasopt_compat.load_model restores the optimizer state by variable), or target a Keras 3 release"
)
_FROM_TF_KERAS = (
    "TF 2.4-2.15 build the models Keras <= 2.15 saves: save the model with TF 2.15 (or older), "
    "or target tf_keras / a Keras 3 release"
)
_FROM_KERAS2 = (
    "Keras 3 builds the models Keras 3 saves and most Keras 2 .h5 files: load the file with "
    "kerasopt_compat.load_model (or the saver's Keras) and save it again from Keras 3, or target tf_keras"
)
_H5_KERAS = frozenset(["h5", "keras"])
_ALL_FORMATS = frozenset(["h5", "keras", "savedmodel"])

#: What a release's own ``load_model`` cannot build from the model config a
#: newer (or other-generation) Keras stored. A graph op is looked for first
#: (the graph loads before the layers); then the first object, in stored
#: order, that a row matches (rows in table order at each object); the
#: container's own files and metadata (``"file"``, ``"saved_by"`` rows) last.
#: ``fix_model`` rewrites only the optimizer; when the copy's model config has
#: one of these for its target, it says so (:class:`ModelConfigWarning`, a
#: :class:`FileFormatWarning`; an error with ``strict=True``), naming the
#: first layer and key (``_files.model.unbuildable``). ``cannot`` is measured
#: with the native ``load_model(compile=False)`` of the committed newer-Keras
#: files in the tf29, tf211, tf215, tfkeras221, tf221 and tf216-keras33 envs
#: (tests/test_model_features.py); the releases between them are taken from
#: their neighbours (Keras 2 only added keys). A row goes when no supported
#: release needs it.
MODEL_FEATURES: Tuple[ModelFeature, ...] = (
    ModelFeature(
        "a .keras archive of Keras 2.15+ (its weights stored by tracked path)",
        "saved_by",
        frozenset(),
        "keras_version",
        "2.15",
        frozenset(["keras"]),
        "Keras 2.15 and tf_keras",
        _tf2(12, 14),
        "TF 2.12-2.14 find a layer's weights in a .keras archive by the layer's name, which Keras 2.15 does not "
        "store them under ('expected 2 variables, but received 0'): load it with TF 2.15 or tf_keras, or "
        "convert it to .h5 there",
    ),
    ModelFeature(
        "the Keras metadata in keras_metadata.pb",
        "file",
        frozenset(),
        "",
        "keras_metadata.pb",
        frozenset(["savedmodel"]),
        "TF 2.5+ (seen: TF 2.7, 2.9, 2.11)",
        frozenset(["tf2.4"]),
        "TF 2.4 reads a Keras SavedModel's metadata from saved_model.pb, which these releases leave empty "
        "(JSONDecodeError): load it with TF 2.5+ (kerasopt_compat.load_model there) and save it as .h5 for TF 2.4",
    ),
    ModelFeature(
        "a SavedModel graph using the op DisableCopyOnRead",
        "op",
        frozenset(),
        "",
        "DisableCopyOnRead",
        frozenset(["savedmodel"]),
        "TF 2.15 and tf_keras 2.21 (not TF 2.11)",
        _tf2(4, 9),
        "TF <= 2.9 lack the op ('Op type not registered'; TF 2.10 has it): load it with TF 2.10+ or tf_keras, "
        "or save the model as .h5 there",
    ),
    ModelFeature(
        "a Keras 3 class path for Functional",
        "module",
        frozenset(["Functional"]),
        "module",
        "keras.src.models.functional",
        frozenset(["keras"]),
        "Keras 3",
        _KERAS2_LOADERS,
        _FROM_KERAS3,
    ),
    ModelFeature(
        "a Keras 2 class path for Functional",
        "module",
        frozenset(["Functional"]),
        "module",
        "keras.src.engine.functional",
        frozenset(["keras"]),
        "Keras 2.13-2.15",
        _KERAS3,
        _FROM_KERAS2,
    ),
    ModelFeature(
        "Keras 3's inbound_nodes ({'args': ..., 'kwargs': ...})",
        "inbound",
        frozenset(),
        "inbound_nodes",
        None,
        _H5_KERAS,
        "Keras 3",
        _KERAS2_LOADERS,
        _FROM_KERAS3,
    ),
    ModelFeature(
        "Keras 3's InputLayer batch_shape (Keras 2: batch_input_shape)",
        "key",
        frozenset(["InputLayer"]),
        "batch_shape",
        None,
        _ALL_FORMATS,
        "Keras 3",
        _KERAS2_LOADERS,
        _FROM_KERAS3,
    ),
    ModelFeature(
        "InputLayer optional",
        "key",
        frozenset(["InputLayer"]),
        "optional",
        None,
        _ALL_FORMATS,
        "Keras 3 and tf_keras 2.16+",
        _tf2(4, 15),
        _FROM_TF_KERAS,
    ),
    ModelFeature(
        "a Keras 3 DTypePolicy object as dtype",
        "class",
        frozenset(),
        "dtype",
        "DTypePolicy",
        _H5_KERAS,
        "Keras 3",
        _KERAS2_LOADERS,
        _FROM_KERAS3,
        frozenset(["Sequential", "Functional", "Model"]),
    ),
    # Keras 3.13 added Dense/EinsumDense/Embedding quantization_config and 3.15 the initializers'
    # input_axes/output_axes (their wheels' sources); measured: Keras 3.3.3 (tf216-keras33) rejects both
    ModelFeature(
        "Keras 3's quantization_config",
        "key",
        frozenset(),
        "quantization_config",
        None,
        _H5_KERAS,
        "Keras 3.13+",
        _KERAS2_LOADERS | _keras3_before(13),
        _newer_keras3(13),
    ),
    ModelFeature(
        "Keras 3's initializer input_axes",
        "key",
        frozenset(),
        "input_axes",
        None,
        _H5_KERAS,
        "Keras 3.15+",
        _KERAS2_LOADERS | _keras3_before(15),
        _newer_keras3(15),
    ),
    ModelFeature(
        "a wrapped layer stored without its module (Keras <= 2.12)",
        "no_module",
        frozenset(["Bidirectional"]),
        "layer",
        None,
        frozenset(["h5"]),
        "TF <= 2.12",
        _KERAS3,
        _FROM_KERAS2,
    ),
    ModelFeature(
        "Keras 2's RNN time_major",
        "key",
        frozenset(["LSTM", "GRU", "SimpleRNN"]),
        "time_major",
        None,
        _H5_KERAS,
        "Keras 2 (TF 2.x, tf_keras)",
        _KERAS3,
        _FROM_KERAS2,
    ),
    ModelFeature(
        "a list as BatchNormalization axis",
        "list",
        frozenset(["BatchNormalization"]),
        "axis",
        None,
        frozenset(["keras"]),
        "Keras 2.13-2.15 and tf_keras .keras archives",
        _KERAS3,
        _FROM_KERAS2,
    ),
)

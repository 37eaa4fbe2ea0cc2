"""Every TF/Keras version shim, in one place (modelled on scikit-learn's ``utils/fixes.py``).

Each shim says which versions need it and when it can go. Code elsewhere in
the package calls these helpers instead of testing versions itself.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import inspect
from types import ModuleType
from typing import Any, Callable, Dict, FrozenSet, Iterable, List, NamedTuple, Optional, Tuple


def optimizer_namespace(keras: ModuleType, path: str) -> Optional[Any]:
    """``keras.optimizers`` or ``keras.optimizers.experimental``; None if absent.

    Needed while TF 2.9/2.10 are supported: their AdamW (and the other "new"
    optimizers) live only in ``optimizers.experimental``, a namespace that does
    not exist before TF 2.9 and raises or is absent in Keras 3. Can go when the
    oldest supported TF is 2.11.
    """
    obj: Any = keras
    for part in path.split("."):
        try:
            obj = getattr(obj, part)
        except (AttributeError, ImportError):
            return None
    return obj


def namespace_attr(namespace: Any, name: str) -> Optional[Any]:
    """``getattr`` that tolerates lazy namespaces raising on access.

    TF 2.11-2.15 and Keras 3 expose some optimizer names through lazy loaders
    or placeholders that raise ``ImportError``/``AttributeError`` when touched
    (Keras 3's ``optimizers.legacy``). Can go with Keras 2.
    """
    try:
        return getattr(namespace, name, None)
    except (ImportError, AttributeError):
        return None


def loss_scale_optimizer_class(keras: ModuleType, family: str) -> Any:
    """The public LossScaleOptimizer of the installed Keras.

    TF 2.4-2.15 and tf_keras: ``mixed_precision.LossScaleOptimizer`` (in 2.11+
    it dispatches to ``LossScaleOptimizerV3`` for new optimizers). Keras 3:
    ``optimizers.LossScaleOptimizer``. Can go when Keras 2 support ends.
    """
    if family == "keras3":
        return keras.optimizers.LossScaleOptimizer
    return keras.mixed_precision.LossScaleOptimizer


#: Where Keras 3 keeps the classes a backend builds in place of a public one.
_KERAS3_BACKEND_MODULES = "keras.src.backend."


def backend_stand_in_for(cls: type, public: Iterable[Any]) -> Optional[type]:
    """The public class among ``public`` that Keras' backend built ``cls`` in place of, or None.

    Keras 3 on the PyTorch backend (3.0-3.15 at least): ``optimizers.Adam(...)``
    returns an instance of ``keras.src.backend.torch.optimizers.torch_adam.Adam``,
    a subclass of the public class of the same name (``TorchOptimizer.__new__``;
    likewise Adadelta, Adagrad, Adamax, AdamW, Lion, Nadam, RMSprop, SGD). Only
    such a Keras-internal subclass with the public class's own name counts, never
    a user's subclass. Needed as long as a Keras backend does this.
    """
    if not getattr(cls, "__module__", "").startswith(_KERAS3_BACKEND_MODULES):
        return None
    for klass in public:
        if klass is not cls and isinstance(klass, type) and klass.__name__ == cls.__name__ and issubclass(cls, klass):
            return klass
    return None


_NAMED = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


@functools.lru_cache(maxsize=256)
def named_parameters(cls: Any) -> FrozenSet[str]:
    """Keyword parameters that ``cls.__init__`` names explicitly.

    Keras 3 and the new Keras 2 optimizers name every argument they accept;
    legacy OptimizerV2 (TF <= 2.10, ``optimizers.legacy``) takes ``decay``,
    ``clipnorm``, ``clipvalue``, ``global_clipnorm`` through ``**kwargs``,
    which ``_config.tables.FAMILIES['legacy'].options`` lists instead.
    """
    try:
        params = inspect.signature(cls.__init__).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins without signatures
        return frozenset()
    return frozenset(
        name
        for name, p in params.items()
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY) and name != "self"
    )


@functools.lru_cache(maxsize=256)
def constructor_defaults(cls: Any) -> Dict[str, Any]:
    """Defaults of the keyword parameters that ``cls.__init__`` names explicitly.

    How ``serialize`` decides that a ``get_config()`` key kerasopt_compat's
    tables lack (a Keras release newer than the package) is at its default
    and can be left out. Where an ``__init__`` takes ``**kwargs`` the base
    classes' ``__init__`` defaults follow (Keras 3.3-3.x LossScaleOptimizer
    passes the optimizer options to ``Optimizer`` that way); legacy
    OptimizerV2 options have no default anywhere (see :func:`named_parameters`).
    Treat the result as read-only (it is cached).
    """
    out: Dict[str, Any] = {}
    for klass in getattr(cls, "__mro__", (cls,)):
        init = vars(klass).get("__init__")
        if init is None:
            continue
        try:
            params = inspect.signature(init).parameters
        except (TypeError, ValueError):  # pragma: no cover - builtins without signatures
            break
        for name, p in params.items():
            if name != "self" and p.kind in _NAMED and p.default is not inspect.Parameter.empty:
                out.setdefault(name, p.default)
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            break
    return out


def public_names(namespace: Any) -> List[str]:
    """Public attribute names of an optimizer namespace.

    TF 2.x's lazy ``tf.keras`` wrappers (``TFModuleWrapper``,
    ``KerasLazyLoader``) may raise while listing; an unlistable namespace has
    no names. Can go with Keras 2 (Keras 3's namespaces are plain modules).
    """
    try:
        names = dir(namespace)
    except Exception:  # noqa: BLE001 - a lazy loader failing to import
        return []
    return [name for name in names if isinstance(name, str) and not name.startswith("_")]


def python_scalar(value: Any) -> Any:
    """Turn a TF/numpy scalar or variable into a Python number.

    Legacy OptimizerV2 ``get_config()`` (TF 2.4-2.10, ``optimizers.legacy``)
    returns ``numpy.float32`` for hyperparameters once they are variables,
    and TF 2.11's new optimizers do so from construction; the read edge unwraps
    numpy scalars itself, this covers tensors. Can go with Keras 2.
    """
    numpy_fn: Optional[Callable[[], Any]] = getattr(value, "numpy", None)
    if callable(numpy_fn):
        value = numpy_fn()
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "shape", None) == ():
        return item()
    return value


def complete_config(optimizer: Any, config: Any, attributes: Iterable[str] = ()) -> Any:
    """``get_config()`` plus what some versions leave out.

    TF 2.9/2.10 ``optimizers.experimental`` classes omit ``name`` from their
    config although the constructor takes it; read it from the object. Can go
    when the oldest supported TF is 2.11.

    ``attributes``: table keys (``_config.tables.OPTIMIZER_EXTRAS``) to read from the
    object's same-named attribute when its constructor takes them but
    ``get_config()`` omits them: tf_keras 2.21's new ``Adam`` takes
    ``adaptive_epsilon`` and leaves it out of its config. Can go when
    tf_keras' ``get_config()`` includes it or Keras 2 support ends.
    """
    if isinstance(config, dict) and "name" not in config and isinstance(getattr(optimizer, "name", None), str):
        config = dict(config, name=optimizer.name)
    cls: Any = type(optimizer)
    for key in attributes:
        if isinstance(config, dict) and key not in config and key in named_parameters(cls):
            value = getattr(optimizer, key, None)
            if isinstance(value, (bool, int, float, str)):
                config = dict(config, **{key: value})
    return config


def compiled_optimizer_follows(model: Any, optimizer: Any) -> None:
    """Make the compile arguments a model saves name ``optimizer``, the one it now trains with.

    Keras 2.13-2.15, tf_keras 2.x (``serialization_lib.Config``) and Keras 3
    (``SerializableDict``) keep the arguments *given to* ``compile()`` in
    ``model._compile_config`` and write those into a ``.keras`` archive's
    ``compile_config``: an optimizer set afterwards (``model.optimizer = ...``)
    is saved under the old one's config, so the archive's loader builds the old
    class and skips (or mis-assigns) the variables saved (seen with TF 2.15: a
    legacy Adam came back with 0 iterations). Keras before 2.13 has no
    ``_compile_config`` (nothing to do). Can go when Keras saves
    ``model.optimizer`` itself.
    """
    compiled = getattr(model, "_compile_config", None)
    config = getattr(compiled, "config", None)
    if isinstance(config, dict) and "optimizer" in config:
        config["optimizer"] = optimizer


def keras3_model_from_keras2_config(config: Any, custom_objects: Dict[str, Any], safe_mode: bool) -> Any:
    """Build a Keras 2 model config (``keras_metadata.pb``'s) in Keras 3, as Keras 3's own ``.h5`` loader does.

    Keras 3 has no public API for a Keras 2 config: its ``.h5`` loader calls
    the private ``keras.src.legacy.saving.saving_utils.model_from_config``
    inside ``saving_options.keras_option_scope(use_legacy_config=True)`` and
    ``serialization_lib.SafeModeScope``. All three are there, with these
    names and signatures, in every Keras 3 checked (3.0, 3.1, 3.2, 3.3.3, 3.5,
    3.8, 3.15.1). The two scopes are entered where they exist (a Keras 3 that
    moved one builds without it; the caller refuses a model that then fails to
    build). Can go when Keras 3 offers a public loader for Keras 2 configs; a
    Keras release that moves ``model_from_config`` needs a row here.
    """
    saving_utils = importlib.import_module("keras.src.legacy.saving.saving_utils")
    with contextlib.ExitStack() as stack:
        try:
            saving_options = importlib.import_module("keras.src.legacy.saving.saving_options")
            stack.enter_context(saving_options.keras_option_scope(use_legacy_config=True))
        except (ImportError, AttributeError, TypeError):
            pass
        try:
            serialization_lib = importlib.import_module("keras.src.saving.serialization_lib")
            stack.enter_context(serialization_lib.SafeModeScope(safe_mode))
        except (ImportError, AttributeError):
            pass
        return saving_utils.model_from_config(config, custom_objects=custom_objects)


class LegacyConfigRewrite(NamedTuple):
    """One rewrite of a Keras 1/2 model config (an ``.h5`` ``model_config``) that Keras 3's
    legacy loader builds wrongly or not at all.

    ``first``/``last``: the Keras 3 releases that need it (``last`` None: still needed in the
    newest checked, ``checked``). ``rewrite`` changes one config dict in place (every dict of
    the config is offered) and returns whether it changed anything; it adds no class and
    imports nothing.
    """

    name: str
    what: str
    first: Tuple[int, ...]
    last: Optional[Tuple[int, ...]]
    checked: str
    rewrite: Callable[[Dict[str, Any]], bool]


def _sequential_layer_list(node: Dict[str, Any]) -> bool:
    if node.get("class_name") != "Sequential" or not isinstance(node.get("config"), list):
        return False
    node["config"] = {"name": "sequential", "layers": node["config"]}
    return True


def _first_layer_batch_input_shape(node: Dict[str, Any]) -> bool:
    config = node.get("config")
    if node.get("class_name") != "Sequential" or not isinstance(config, dict):
        return False
    layers = config.get("layers")
    if not isinstance(layers, list) or not layers or not isinstance(layers[0], dict):
        return False
    first = layers[0]
    cfg = first.get("config")
    if first.get("class_name") == "InputLayer" or not isinstance(cfg, dict) or cfg.get("batch_input_shape") is None:
        return False
    shape = cfg.pop("batch_input_shape")
    names = {(layer.get("config") or {}).get("name") for layer in layers if isinstance(layer, dict)}
    name = "%s_input" % cfg.get("name", "layer")
    while name in names:
        name += "_"
    input_cfg: Dict[str, Any] = {"batch_input_shape": shape, "sparse": False, "name": name}
    if isinstance(cfg.get("dtype"), str):
        input_cfg["dtype"] = cfg["dtype"]
    layers.insert(0, {"class_name": "InputLayer", "config": input_cfg})
    return True


def _initializer_dtype(node: Dict[str, Any]) -> bool:
    changed = False
    for key, value in node.items():
        if not (isinstance(key, str) and key.endswith("_initializer") and isinstance(value, dict)):
            continue
        cfg = value.get("config")
        if isinstance(value.get("class_name"), str) and isinstance(cfg, dict) and "dtype" in cfg:
            del cfg["dtype"]
            changed = True
    return changed


#: Keras 1/2 model configs that Keras 3's legacy ``.h5`` loader
#: (``keras.src.legacy.saving.saving_utils.model_from_config``) gets wrong, rewritten by
#: :func:`keras3_legacy_model_config` before it reads them (``kerasopt_compat.load_model``).
#: Each can go when the oldest supported Keras 3 release no longer needs it.
KERAS3_LEGACY_CONFIG_REWRITES: Tuple[LegacyConfigRewrite, ...] = (
    LegacyConfigRewrite(
        "sequential_layer_list",
        "stand-alone Keras 1.x-2.1 store a Sequential's config as the bare list of its layers; Keras 3 fails "
        '("pop expected at most 1 argument")',
        (3, 0),
        None,
        "3.3.3, 3.15.1",
        _sequential_layer_list,
    ),
    LegacyConfigRewrite(
        "first_layer_batch_input_shape",
        "a Sequential whose first layer stores batch_input_shape [None, 2] (stand-alone Keras 2.x, TF 1.x "
        "tf.keras) is built with input shape (None, None, 2) (model_from_config passes it as input_shape), so "
        "predict/fit fail; an InputLayer entry with that batch_input_shape is put before the layer, as tf.keras 2.x "
        "Sequential configs have it",
        (3, 0),
        None,
        "3.3.3, 3.15.1",
        _first_layer_batch_input_shape,
    ),
    LegacyConfigRewrite(
        "initializer_dtype",
        "TF 1.x tf.keras initializers store their dtype (GlorotUniform {'seed': None, 'dtype': 'float32'}); "
        "Keras 3 initializers take none (\"unexpected keyword argument 'dtype'\"): dropped (the layer's dtype decides)",
        (3, 0),
        None,
        "3.3.3, 3.15.1",
        _initializer_dtype,
    ),
)


def _dicts(node: Any) -> Iterable[Dict[str, Any]]:
    """Every dict of a JSON document, outermost first (a rewrite may add entries below it)."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, list):
            stack.extend(reversed(item))


def keras3_legacy_model_config(doc: Any, keras_version: Tuple[int, ...]) -> List[str]:
    """Rewrite a stored Keras 1/2 model config (``model_config`` of an ``.h5``) in place for
    Keras 3 release ``keras_version`` (:data:`KERAS3_LEGACY_CONFIG_REWRITES`); returns the
    names of the rewrites that changed it.

    >>> doc = {"class_name": "Sequential", "config": [{"class_name": "Dense",
    ...        "config": {"name": "dense_1", "batch_input_shape": [None, 2], "units": 2}}]}
    >>> keras3_legacy_model_config(doc, (3, 15, 1))
    ['sequential_layer_list', 'first_layer_batch_input_shape']
    >>> [layer["class_name"] for layer in doc["config"]["layers"]]
    ['InputLayer', 'Dense']
    """
    applied: List[str] = []
    for row in KERAS3_LEGACY_CONFIG_REWRITES:
        if keras_version < row.first or (row.last is not None and keras_version > row.last):
            continue
        changed = False
        for node in list(_dicts(doc)):
            changed = row.rewrite(node) or changed
        if changed:
            applied.append(row.name)
    return applied


#: Keras 2 wrappers whose config holds another layer's config under these keys. Keras 3's
#: ``Bidirectional``, ``TimeDistributed`` (``Wrapper``) and ``RNN`` rebuild that inner layer with
#: ``serialization_lib.deserialize_keras_object``, which finds a class only by its ``module``
#: (3.0-3.15 at least: "Could not locate class 'LSTM'"); Keras 2 stores none. Its own ``.h5``
#: loader fails the same on these files. Can go when Keras 3's legacy loader resolves them.
KERAS3_NESTED_LAYER_KEYS: Dict[str, Any] = {
    "Bidirectional": ("layer", "backward_layer"),
    "TimeDistributed": ("layer",),
    "RNN": ("cell",),
}


def keras3_nested_layer_config(class_name: Any, config: Dict[str, Any], public: Callable[[str], bool]) -> None:
    """Give the inner layer configs of a Keras 2 wrapper (:data:`KERAS3_NESTED_LAYER_KEYS`) the module
    ``keras.layers`` that Keras 3 resolves them by, in place, where the inner class is one of the
    installed Keras' public layers (``public(name)``) and no module is stored; a custom inner layer
    is left as stored (found in ``custom_objects`` by its name)."""
    for key in KERAS3_NESTED_LAYER_KEYS.get(class_name, ()) if isinstance(class_name, str) else ():
        inner = config.get(key)
        if not isinstance(inner, dict) or "module" in inner:
            continue
        name = inner.get("class_name")
        if isinstance(name, str) and public(name):
            inner["module"] = "keras.layers"


#: Keras 2 losses store ``reduction: "auto"`` (``losses_utils.ReductionV2.AUTO``: in ``fit``, the sum
#: over the batch size); Keras 3's losses refuse it ("Invalid value for argument reduction", 3.0-3.15
#: at least) and mean the same by their default ``"sum_over_batch_size"``. Keras 2.13-2.15 and tf_keras
#: also store ``fn`` (the function a built-in loss class wraps), which Keras 3's classes do not take
#: (``__init__() got an unexpected keyword argument 'fn'``): dropped where it names the function the
#: installed class wraps anyway. Can go with Keras 2 files.
KERAS2_LOSS_REDUCTIONS: Dict[str, str] = {"auto": "sum_over_batch_size"}


def keras3_loss_config(value: Any, own_fn: Callable[[str], Optional[str]]) -> Any:
    """A stored Keras 2 loss (a name or ``{"class_name", "config"}``) as Keras 3 takes it: a copy whose
    ``reduction`` of :data:`KERAS2_LOSS_REDUCTIONS` is Keras 3's, without ``fn`` where it is the name of
    the function the installed class wraps (``own_fn(class_name)``); anything else unchanged (the
    installed Keras then says what it cannot take)."""
    if not isinstance(value, dict) or not isinstance(value.get("config"), dict):
        return value
    config = dict(value["config"])
    reduction = config.get("reduction")
    if isinstance(reduction, str) and reduction in KERAS2_LOSS_REDUCTIONS:
        config["reduction"] = KERAS2_LOSS_REDUCTIONS[reduction]
    class_name = value.get("class_name")
    if isinstance(config.get("fn"), str) and isinstance(class_name, str) and own_fn(class_name) == config["fn"]:
        del config["fn"]
    return dict(value, config=config) if config != value["config"] else value


def saved_call_spec(model: Any) -> Optional[Any]:
    """The input spec a Keras 2 model was saved with (a ``TensorSpec`` structure), or None.

    Keras 2 (TF 2.x, tf_keras 2.21 at least) builds a model revived from a SavedModel from the input
    spec it saved, except a dict of inputs (``saving/legacy/saved_model/load.py``: ``not
    isinstance(input_specs, dict)``): a ``Sequential`` fed a dict (``DenseFeatures``) comes back with
    no weights until its first call, when TF's checkpoint restores them. The spec is kept as
    ``Model.save_spec()`` (Keras 2.9+, tf_keras: ``(args, kwargs)``) or ``_saved_model_inputs_spec``
    (older Keras 2). Keras 3 returns built models. Can go with Keras 2.
    """
    save_spec = getattr(model, "save_spec", None)
    if callable(save_spec):
        try:
            spec = save_spec(dynamic_batch=True)
        except Exception:  # noqa: BLE001 - a model that never recorded one
            spec = None
        if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], (list, tuple)) and len(spec[0]) == 1:
            return spec[0][0]
    return getattr(model, "_saved_model_inputs_spec", None)


#: Keras 2 initializer class names that some Keras 3 releases do not deserialize, and the name they
#: do: Keras 3.3.3 exports ``keras.initializers.Orthogonal`` but its ``initializers.get`` knows only
#: ``OrthogonalInitializer`` ("Could not interpret initializer identifier"; its own ``.h5`` loader
#: fails the same on a Keras 2 LSTM); Keras 3.15 reads both. Applied only where the installed Keras
#: does not resolve the stored name. Can go when Keras 3.3 is no longer supported.
KERAS3_INITIALIZER_RENAMES: Dict[str, str] = {"Orthogonal": "OrthogonalInitializer"}


@functools.lru_cache(maxsize=None)
def keras3_initializer_name(class_name: str) -> str:
    """The name the installed Keras 3 deserializes a stored Keras 2 initializer ``class_name`` by
    (:data:`KERAS3_INITIALIZER_RENAMES`), ``class_name`` itself where it resolves as stored."""
    renamed = KERAS3_INITIALIZER_RENAMES.get(class_name)
    if renamed is None:
        return class_name
    import keras  # Keras 3 only, never at import

    try:
        keras.initializers.get({"class_name": class_name, "config": {}})
    except (ValueError, TypeError):
        return renamed
    return class_name


def rebuild_train_function(model: Any) -> None:
    """Make ``model.train_function`` again after its optimizer was swapped inside ``fit`` (before its first step).

    ``fit`` makes the train function before ``on_train_begin`` and calls ``model.train_function`` in its loop;
    :func:`kerasopt_compat.restore_state` clears it when it attaches an optimizer. Keras 2 (TF 2.4-2.15,
    tf_keras) returns and sets it, Keras 3 sets it; neither traces it before the first step, so the new one
    trains with ``model.optimizer``. Needed as long as the cross-generation ``BackupAndRestore`` restores inside
    ``fit``: it cannot go.
    """
    if getattr(model, "train_function", None) is None:
        made = model.make_train_function()
        if made is not None and getattr(model, "train_function", None) is None:
            model.train_function = made


def keras2_backup_start_epoch(training_state: Any, epoch: int) -> None:
    """Make Keras 2's ``fit`` start at ``epoch`` (epochs completed) after a restore that its backup did not make.

    Keras 2's ``fit`` asks the ``WorkerTrainingState`` that ``BackupAndRestore.on_train_begin`` attached to the
    model (``model._training_state``) where to start, after ``on_train_begin``: TF 2.4-2.10 through
    ``maybe_load_initial_epoch_from_ckpt(initial_epoch, mode)`` (``ckpt_saved_epoch + 1``), TF 2.11+ and tf_keras
    through ``maybe_load_initial_counters_from_ckpt(steps_per_epoch, initial_epoch, mode)`` (an ``(epoch, step)``
    that with an integer ``save_freq`` also depends on ``ckpt_saved_batch`` and the steps per epoch, not known
    here). ``ckpt_saved_epoch`` is set as a backup of the previous epoch would have it, and the one next
    question is answered with ``epoch`` (step 0) in whichever form the release asks it. Can go with Keras 2.
    """
    saved = getattr(training_state, "_ckpt_saved_epoch", None)
    if saved is not None:
        saved.assign(epoch - 1)
    counters = callable(getattr(type(training_state), "maybe_load_initial_counters_from_ckpt", None))
    name = "maybe_load_initial_counters_from_ckpt" if counters else "maybe_load_initial_epoch_from_ckpt"
    if not callable(getattr(type(training_state), name, None)):
        return

    def answer(*args: Any, **kwargs: Any) -> Any:
        del training_state.__dict__[name]  # one answer: later fits ask the native method again
        return (epoch, 0) if counters else epoch

    setattr(training_state, name, answer)


def keras3_backup_start_epoch(callback: Any, model: Any, epoch: int) -> None:
    """Make Keras 3's ``fit`` start at ``epoch`` (epochs completed) after a restore that its backup did not make.

    Keras 3's ``BackupAndRestore._load_model`` sets ``model._initial_epoch`` (read by every backend's ``fit``
    right after ``on_train_begin``); ``_current_epoch`` is what a mid-epoch (integer ``save_freq``) backup
    writes before the first epoch ends, set here too (Keras 3.x up to 3.15 leaves it at 0 after its own
    restore). Can go when Keras 3 offers a public way to set the epoch a backup resumes at.
    """
    model._initial_epoch = epoch
    callback._current_epoch = epoch


def backup_and_restore_class(keras: ModuleType) -> Optional[type]:
    """The installed Keras' ``BackupAndRestore`` callback class; None if it has none.

    TF 2.3-2.7 have it only as ``tf.keras.callbacks.experimental.BackupAndRestore`` (taking only
    ``backup_dir``); TF 2.8+, tf_keras and Keras 3 as ``callbacks.BackupAndRestore``. TF 2.2 and older have
    none. Can go when the oldest supported TF is 2.8.
    """
    callbacks = getattr(keras, "callbacks", None)
    for namespace in (callbacks, getattr(callbacks, "experimental", None)):
        cls = namespace_attr(namespace, "BackupAndRestore") if namespace is not None else None
        if isinstance(cls, type):
            return cls
    return None

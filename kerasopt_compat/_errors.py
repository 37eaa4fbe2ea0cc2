"""Exceptions and warnings raised by kerasopt_compat.

Every error the package raises on bad input is a subclass of
:class:`KerasOptCompatError`, and also of the builtin an application would
expect (:class:`ValueError` or :class:`TypeError`), so existing ``except
ValueError`` blocks keep working.
"""

from __future__ import annotations

#: ``typing`` is imported by type checkers only: it is most of the cost of
#: ``import kerasopt_compat`` (the annotations are strings, never evaluated).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional

__all__ = [
    "KerasOptCompatError",
    "InvalidConfigError",
    "UnknownClassError",
    "UnknownKeyError",
    "ConfigTypeError",
    "UnsupportedClassError",
    "LossyConversionError",
    "SerializationError",
    "MissingDependencyError",
    "ModelFileError",
    "NoOptimizerError",
    "UnsafeModelFileError",
    "OptimizerStateError",
    "OptimizerStateWarning",
    "StateScheduleWarning",
    "NadamScheduleWarning",
    "EpsilonPlacementWarning",
    "DroppedStateWarning",
    "EMADroppedWarning",
    "GradientAccumulationWarning",
    "LossScaleNotStoredWarning",
    "MissingStateWarning",
    "NoStateWarning",
    "InferredOptimizerWarning",
    "UnrestoredWeightsWarning",
    "Tf1MomentumWarning",
    "StateRefusedWarning",
    "NoOptimizerConfigWarning",
    "NoSlotTableWarning",
    "AmbiguousTieWarning",
    "NativeUpdateBugWarning",
    "ConversionWarning",
    "FileFormatWarning",
    "ModelConfigWarning",
    "LossyConversionWarning",
    "DecayConversionWarning",
    "UnknownKeyWarning",
]

_DISTRIBUTIONS = (
    ("tensorflow", "TensorFlow"),
    ("tensorflow-cpu", "TensorFlow"),
    ("tf-keras", "tf_keras"),
    ("keras", "Keras"),
)


#: What :func:`installed_versions` says without TensorFlow and Keras.
NOTHING_INSTALLED = "no TensorFlow or Keras installed"


_INSTALLED: list = []  # installed_versions(), once found


def installed_versions() -> str:
    """Describe the installed TensorFlow/Keras distributions without importing them
    (found once, then remembered).

    >>> isinstance(installed_versions(), str)
    True
    """
    if not _INSTALLED:
        _INSTALLED.append(_find_installed())
    return _INSTALLED[0]


def _find_installed() -> str:
    try:
        from importlib import metadata  # lazy: import-time speed (importlib.metadata is slow to import)
    except ImportError:  # pragma: no cover - Python < 3.8 is not supported
        return "versions unknown"
    found = []
    seen = set()
    for dist, label in _DISTRIBUTIONS:
        try:
            version = metadata.version(dist)
        except Exception:  # noqa: BLE001 - any metadata problem means "not installed"
            continue
        if label in seen:
            continue
        seen.add(label)
        found.append("%s %s" % (label, version))
    return ", ".join(found) if found else NOTHING_INSTALLED


def _short(value: Any, limit: int = 80) -> str:
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a hostile __repr__ must not hide our error
        text = "<%s object>" % type(value).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


class KerasOptCompatError(Exception):
    """Base class of every error raised by kerasopt_compat.

    The message names the class, key and value at fault. Errors from calls
    where the installed TensorFlow/Keras matters (``serialize``,
    ``deserialize``, ``to_keras``, a missing dependency) end with
    ``[installed: ...]``; the pure functions (``normalize``, ``loads``,
    ``to_native``, the command line) leave it out. ``hint`` says what to do
    about it (``pass it in custom_objects``); :meth:`with_hint` lets a caller
    such as the command line replace it with its own.
    """

    def __init__(
        self,
        message: str,
        *,
        class_name: Optional[str] = None,
        key: Optional[str] = None,
        value: Any = None,
        has_value: bool = False,
        hint: Optional[str] = None,
        installed: Optional[str] = None,
    ) -> None:
        self.class_name = class_name
        self.key = key
        self.value = value
        self.hint = hint
        self.installed = installed
        where = []
        if class_name is not None:
            where.append("class %r" % (class_name,))
        if key is not None:
            where.append("key %r" % (key,))
        if has_value:
            where.append("value %s" % _short(value))
        self._text = message + (" (" + ", ".join(where) + ")" if where else "")
        super().__init__(self.with_hint(hint))

    def with_hint(self, hint: Optional[str]) -> str:
        """The message with ``hint`` in place of the error's own."""
        text = self._text + ("; " + hint if hint else "")
        return text + (" [installed: %s]" % self.installed if self.installed else "")

    def note_file(self, path: str) -> None:
        """Prefix the message with the model file it came from (once)."""
        prefix = "%s: " % path
        if not self._text.startswith(prefix):
            self._text = prefix + self._text
            self.args = (self.with_hint(self.hint),)

    def note_installed(self, description: str) -> None:
        """Add ``[installed: description]`` once (live calls do, pure ones don't)."""
        if self.installed is None:
            self.installed = description
            self.args = (self.with_hint(self.hint),)


class InvalidConfigError(KerasOptCompatError, ValueError):
    """The config is malformed: missing parts, bad values, conflicting keys."""


class UnknownClassError(InvalidConfigError):
    """The ``class_name`` is neither a known Keras class nor in ``custom_objects``."""


class UnknownKeyError(InvalidConfigError):
    """The config holds a key that the class never had in any Keras version."""


class ConfigTypeError(KerasOptCompatError, TypeError):
    """A value (or the config itself) has the wrong type."""


class UnsupportedClassError(KerasOptCompatError, ValueError):
    """The installed Keras flavour lacks this class (e.g. ``Lion`` on TF 2.9)."""


class LossyConversionError(KerasOptCompatError, ValueError):
    """Raised instead of :class:`LossyConversionWarning` when ``strict=True``."""


class SerializationError(KerasOptCompatError, TypeError):
    """An optimizer object cannot be serialized (unknown class, non-constant value)."""


class MissingDependencyError(KerasOptCompatError, ImportError):
    """TensorFlow/Keras is missing or too old for the requested operation."""


class ModelFileError(InvalidConfigError):
    """A model file (``.h5``, ``.keras``, SavedModel, TF.js ``model.json``)
    cannot be read or written: not a model file, corrupt, or an unsafe target."""


class UnsafeModelFileError(ModelFileError):
    """A model file that holds what kerasopt_compat refuses to follow or open: an HDF5 external link,
    virtual dataset or external storage, a symlink out of a SavedModel folder, a FIFO or device instead of a
    file, a ``.keras`` member stored twice (docs/security.md). Never downgraded to a warning."""


class NoOptimizerError(ModelFileError):
    """The model file holds no optimizer (saved before ``compile()``, with
    ``include_optimizer=False`` or ``compile=False``)."""


class ConversionWarning(UserWarning):
    """Base class of the warnings kerasopt_compat emits while converting configs."""


class LossyConversionWarning(ConversionWarning):
    """A setting cannot be represented by the installed Keras and was dropped.

    Filter it like any warning, or pass ``strict=True`` to get
    :class:`LossyConversionError` instead. ``class_name``, ``key`` and
    ``value`` name the setting that was dropped.
    """

    class_name: Optional[str] = None
    key: Optional[str] = None
    value: Any = None


class OptimizerStateWarning(ConversionWarning):
    """:func:`kerasopt_compat.load_model` rebuilt the optimizer from its stored
    config: its state (slots, iteration count) was not restored, so training
    restarts from a fresh optimizer state."""


class FileFormatWarning(ConversionWarning):
    """:func:`kerasopt_compat.fix_model` wrote a file in a format that the target
    release's own ``load_model`` cannot open (a ``.keras`` archive for TF 2.9, a
    SavedModel for Keras 3); the message says what that release opens instead.
    ``strict=True`` (``--strict``) makes it a :class:`ModelFileError`."""


class ModelConfigWarning(FileFormatWarning):
    """:func:`kerasopt_compat.fix_model` wrote a copy whose stored model config the
    target release's own ``load_model`` cannot build (a Keras 3 ``InputLayer``
    ``batch_shape`` for TF 2.9, a Keras 2 ``Functional`` class path for Keras 3,
    ...; ``_config.tables.MODEL_FEATURES``): the message names the first layer and key
    and what the target opens instead. ``strict=True`` (``--strict``) makes it
    a :class:`ModelFileError`."""


class OptimizerStateError(KerasOptCompatError, ValueError):
    """Raised by :func:`kerasopt_compat.restore_state` with ``strict=True``
    instead of an :class:`OptimizerStateWarning` subclass; ``category`` is the
    warning class it replaces, ``variables`` the variables it names."""

    category: type = OptimizerStateWarning
    variables: tuple = ()


class _StateWarning(OptimizerStateWarning):
    """An :class:`OptimizerStateWarning` that names the model variables it is about."""

    variables: tuple = ()


class StateScheduleWarning(_StateWarning):
    """The state was restored, but the installed class's update rule differs
    from the saver's, so the next steps differ from the saver's (by a
    documented bound; see README, "Resume training")."""


class NativeUpdateBugWarning(StateScheduleWarning):
    """The installed optimizer class has an update bug of its own that makes the
    next steps differ from the saver's whatever the state (TF 2.9's
    ``optimizers.experimental.AdamW`` with a weight decay scales each weight to
    ``lr * weight_decay`` of itself; fixed in later releases)."""


class NadamScheduleWarning(StateScheduleWarning):
    """Nadam across generations: ``m`` and ``v`` are exact, the momentum
    product follows the target's schedule (legacy ``0.96**(0.004*t)``,
    Keras 2/3 ``0.96**t``) and is recomputed from the iteration count."""


class EpsilonPlacementWarning(StateScheduleWarning):
    """RMSprop without momentum (and Adagrad) between legacy and newer
    generations: epsilon is added outside the square root in the legacy
    class and inside it in Keras 2/3."""


class DroppedStateWarning(_StateWarning):
    """Stored state has no place in the installed optimizer (or no model
    variable to go with) and was left out."""


class EMADroppedWarning(DroppedStateWarning):
    """EMA averages (``use_ema``) were dropped: the target (a legacy
    optimizer) has no EMA."""


class GradientAccumulationWarning(DroppedStateWarning):
    """Keras 3 gradient accumulation saved mid-cycle: the accumulated
    gradients were dropped for a target without gradient accumulation."""


class LossScaleNotStoredWarning(_StateWarning):
    """The state holds no loss scale: the LossScaleOptimizer starts again
    from its initial loss scale."""


class MissingStateWarning(_StateWarning):
    """Trainable variables with no stored state: their slots start fresh."""


class NoStateWarning(_StateWarning):
    """The state holds no slot variables at all (only the iteration count, or nothing)."""


class InferredOptimizerWarning(_StateWarning):
    """A training checkpoint stores no optimizer config: the optimizer class was
    inferred from its variables' names and built with that class's defaults
    (pass ``optimizer=`` to :func:`~kerasopt_compat.restore_checkpoint`)."""


class UnrestoredWeightsWarning(_StateWarning):
    """Model weights not restored from a training checkpoint: a model variable
    the checkpoint does not hold (it keeps its value), or a stored one tied to
    no model variable (left out)."""


class Tf1MomentumWarning(StateScheduleWarning):
    """A TF1 ``MomentumOptimizer`` accumulator (``accum = momentum * accum + grad``)
    continued by Keras' SGD (``m = momentum * m - lr * grad``): converted as
    ``m = -lr * accum`` with the installed optimizer's learning rate, exact when
    it is the TF1 one (a checkpoint does not store it); not converted under a
    learning-rate schedule."""


class StateRefusedWarning(_StateWarning):
    """The state (or a tie of it) was refused: the optimizer starts fresh
    for what was refused (an error with ``strict=True``)."""


class NoOptimizerConfigWarning(StateRefusedWarning):
    """The state names no optimizer (Keras 3.15 leaves the optimizer config
    out of a ``.keras`` saved after an ``.h5`` of the same model); pass
    ``optimizer=`` to say which."""


class NoSlotTableWarning(StateRefusedWarning):
    """The optimizer class has no slot table (your own class): its state is not restored."""


class AmbiguousTieWarning(StateRefusedWarning):
    """A stored variable matches no model variable unambiguously (two
    candidates, a shape mismatch): its slots were not restored."""


class DecayConversionWarning(ConversionWarning):
    """Legacy learning-rate ``decay`` was rewritten as an exactly equivalent
    ``InverseTimeDecay(lr, decay_steps=1, decay_rate=decay)`` schedule."""


class UnknownKeyWarning(ConversionWarning):
    """A key or optimizer class that kerasopt_compat's tables do not know was
    passed through unchanged (a Keras release newer than this package).

    ``class_name`` and ``key`` name it (``key`` is None for a whole class);
    ``version`` is the installed TF/Keras. See README, "A Keras newer than
    kerasopt_compat".
    """

    class_name: Optional[str] = None
    key: Optional[str] = None
    version: Optional[str] = None

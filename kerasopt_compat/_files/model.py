"""Model files: read and rewrite the optimizer stored in them, without TensorFlow.

Every container (``.h5``/``.hdf5``, ``.keras`` archives, TF 2.x SavedModel
directories, TF.js ``model.json``; training checkpoints for their state) is a
module of this package behind one interface (:class:`.base.Container`); its
module says where the optimizer entry sits. :func:`read_optimizer` finds the
container (:func:`.registry.detect`, by content) and returns the canonical
dict; :func:`fix_model` rewrites only the stored optimizer entry (and, where
the container can lay it out, the state) for a target release, through the
container's ``write``. All files are opened read-only; nothing named in a file
is ever imported or executed.
"""

from __future__ import annotations

import json
import os
import warnings
from typing import Any, Collection, Dict, FrozenSet, List, Mapping, NamedTuple, Optional, Tuple

from .._config import tables as T
from .._config import write as _write
from .._config.normalize import CustomObjects, custom_names, normalize
from .._errors import (
    ConversionWarning,
    DroppedStateWarning,
    FileFormatWarning,
    InvalidConfigError,
    KerasOptCompatError,
    ModelConfigWarning,
    ModelFileError,
    NadamScheduleWarning,
    OptimizerStateWarning,
    UnknownKeyWarning,
    UnsafeModelFileError,
)
from .._optional import parse_version
from .._state.rules import rule_differences
from .atomic import overlap, same_file
from .base import KEEP_STATE, PathLike, Rewrite, StoredModel, _canonical
from .keras_zip import _KERAS_METADATA, _zip_member
from .registry import BY_FORMAT, CONTAINERS, detect
from .savedmodel import _METADATA_PB, _savedmodel_has_op
from .state import read_state

__all__ = ["read_optimizer", "read_model_file", "fix_model", "FixResult", "StoredModel", "resolve_target"]


# --------------------------------------------------------------------------- reading


def read_optimizer(path: PathLike, *, custom_objects: CustomObjects = None, unknown_keys: str = "error") -> Dict[str, Any]:
    """Return the canonical dict of the optimizer stored in a model file.

    ``path`` is an ``.h5``/``.hdf5`` file, a ``.keras`` archive, a SavedModel
    directory (or its ``keras_metadata.pb``) or a TF.js ``model.json``;
    the container is recognised by its content, not its name. Imports no
    TensorFlow or Keras; ``.h5`` needs h5py (``pip install 'kerasopt_compat[h5]'``).

    >>> read_optimizer("model.h5")                                   # doctest: +SKIP
    {'class_name': 'Adam', 'config': {'name': 'Adam', 'learning_rate': 0.123, 'decay': 0.0, 'beta_1': 0.8, ...}}

    Raises :class:`NoOptimizerError` when the file was saved without an
    optimizer, :class:`ModelFileError` when it is not a model file Keras
    writes, and the errors of :func:`normalize` (with the file named) when
    the stored optimizer is not readable. ``unknown_keys="keep"`` keeps keys
    and optimizer classes a Keras newer than kerasopt_compat wrote, as in
    :func:`normalize`.
    """
    stored = read_model_file(path)
    return _canonical(stored, custom_objects, unknown_keys)


def read_model_file(path: PathLike) -> StoredModel:
    """Read the stored optimizer entry and compile arguments of a model file (no conversion)."""
    fspath = os.fspath(path)
    return detect(fspath).read_stored(fspath)


def file_kind(path: PathLike, fmt: str) -> str:
    """The format key of ``_config.tables.UNOPENABLE``: ``fmt`` (the container read by
    content), or a finer kind of it (``Container.kinds``: ``"h5-named-keras"``,
    an HDF5 file whose name ends in ``.keras``; ``"savedmodel-no-variables"``)."""
    return BY_FORMAT[fmt].kind(os.fspath(path))


_KIND_LABEL = {
    **{c.format: c.label for c in CONTAINERS},
    **{kind: label for c in CONTAINERS for kind, label in c.kinds.items()},
}


def unopenable(path: PathLike, fmt: str, release: str) -> Optional[str]:
    """Why ``release``'s own ``load_model`` (a RELEASES key or generation name)
    cannot open the ``fmt`` file ``path``, and what works instead; None when it
    can (``_config.tables.UNOPENABLE``; a generation: when none of its releases can).

    >>> unopenable("model.json", "tfjs", "tf2.15")[:44]
    'a TF.js model.json, which tf2.15 cannot open'
    >>> unopenable("model.h5", "h5", "keras3") is None
    True
    """
    kind = file_kind(path, fmt)
    loaders = T.FILE_LOADERS.get(_target_key(release)) or T.FILE_LOADERS[resolve_target(release)]
    reasons = [T.UNOPENABLE.get((kind, loader)) or T.UNOPENABLE.get((kind, "*")) for loader in loaders]
    if not reasons or not all(reasons):
        return None
    return "a %s, which %s cannot open: %s" % (_KIND_LABEL[kind], release, reasons[0])


def _target_releases(release: str) -> FrozenSet[str]:
    """The RELEASES keys a target stands for (a generation: all its releases)."""
    key = _target_key(release)
    if key in T.RELEASES:
        return frozenset([key])
    generation = resolve_target(release)
    return frozenset(name for name, rel in T.RELEASES.items() if rel.generation == generation)


def unbuildable(path: PathLike, fmt: str, release: str) -> Optional[str]:
    """What in the model config of the ``fmt`` file ``path`` ``release``'s own
    ``load_model`` cannot build (the first row of ``_config.tables.MODEL_FEATURES``
    found, naming the layer and key), and what works instead; None when no row
    applies (a generation: when none of its releases can build it). Reads the
    stored config only (h5 ``model_config``, ``.keras`` ``config.json``, the
    SavedModel's ``keras_metadata.pb`` and ``saved_model.pb``); imports nothing.

    >>> unbuildable("tests/data/models/tf221/adam.h5", "h5", "tf2.9")[:60]  # doctest: +SKIP
    "layer 'input_layer' (InputLayer) stores Keras 3's InputLayer"
    """
    releases = _target_releases(release)
    rows = [row for row in T.MODEL_FEATURES if fmt in row.formats and releases <= row.cannot]
    if not rows:
        return None
    fspath = os.fspath(path)
    for row in rows:
        if row.match == "op" and row.value and _savedmodel_has_op(fspath, row.value):
            return _whole_file(row, release)
    config = _model_config(fspath, fmt)
    whole = ("op", "file", "saved_by")
    found = None if config is None else _first_feature(config, [row for row in rows if row.match not in whole])
    if found is None:  # last, the container's own files and metadata (the most general rows)
        folder = os.path.dirname(fspath) if os.path.basename(fspath) == _METADATA_PB else fspath
        for row in rows:
            if row.match == "file" and row.value and os.path.isfile(os.path.join(folder, row.value)):
                return _whole_file(row, release)
            if row.match == "saved_by" and row.value and _saved_by_keras2(fspath, row.key, row.value):
                return _whole_file(row, release)
        return None
    row, layer, layer_cls, cls = found
    return "layer %r (%s)%s stores %s (key %r, written by %s), which %s's load_model cannot build: %s" % (
        layer,
        layer_cls,
        "" if cls == layer_cls else ", in its %s," % cls,
        row.what,
        row.key,
        row.written_by,
        release,
        row.instead,
    )


def _saved_by_keras2(path: str, key: str, first: str) -> bool:
    """Whether the ``.keras`` archive's ``metadata.json`` says a Keras 2 release from ``first`` on saved it."""

    try:
        meta = json.loads(_zip_member(path, _KERAS_METADATA).decode("utf-8-sig"))
    except (ModelFileError, OSError, KeyError, ValueError):
        return False
    version = meta.get(key) if isinstance(meta, Mapping) else None
    if not isinstance(version, str):
        return False
    found = parse_version(version)
    return parse_version(first) <= found[:2] and found[0] == 2


def _whole_file(row: T.ModelFeature, release: str) -> str:
    return "%s (written by %s), which %s cannot load: %s" % (row.what, row.written_by, release, row.instead)


def _model_config(path: str, fmt: str) -> Any:
    """The stored model config (without the training/compile config), or None."""
    try:
        return BY_FORMAT[fmt].model_config(path)
    except (OSError, KeyError, TypeError, ValueError, RuntimeError, ModelFileError):
        return None  # what cannot be read is said where the file is read for its optimizer


def _first_feature(doc: Any, rows: List[T.ModelFeature]) -> Optional[Tuple[T.ModelFeature, str, str, str]]:
    """``(row, layer name, layer class, class)`` of the first object (depth first, in stored
    order) a row matches; the layer is the innermost object around it whose config has a
    ``name`` and a ``dtype`` or ``layers`` (a layer or model, not a dtype policy)."""
    stack: List[Tuple[Any, Tuple[str, str]]] = [(doc, ("", ""))]
    while stack:
        obj, layer = stack.pop()
        if isinstance(obj, list):
            stack.extend((item, layer) for item in reversed(obj))
            continue
        if not isinstance(obj, Mapping):
            continue
        cls = obj.get("class_name")
        config = obj.get("config")
        if isinstance(cls, str):
            if isinstance(config, Mapping) and isinstance(config.get("name"), str) and ("dtype" in config or "layers" in config):
                layer = (config["name"], cls)
            for row in rows:
                if (not row.classes or cls in row.classes) and cls not in row.skip and _matches(row, obj, config):
                    return row, layer[0], layer[1] or cls, cls
        stack.extend((value, layer) for value in reversed(list(obj.values())))
    return None


def _matches(row: T.ModelFeature, obj: Mapping[str, Any], config: Any) -> bool:
    if row.match == "module":
        return obj.get("module") == row.value
    if row.match == "inbound":
        nodes = obj.get("inbound_nodes")
        return isinstance(nodes, list) and any(isinstance(node, Mapping) for node in nodes)
    if not isinstance(config, Mapping) or row.key not in config:
        return False
    value = config[row.key]
    if row.match == "key":
        return True
    if row.match == "list":
        return isinstance(value, list)
    if row.match == "class":
        return isinstance(value, Mapping) and value.get("class_name") == row.value
    if row.match == "no_module":
        return isinstance(value, Mapping) and "class_name" in value and "module" not in value
    return False


# --------------------------------------------------------------------------- fixing


def resolve_target(target: str) -> str:
    """The Keras generation (``legacy``/``keras2``/``keras3``) of a target (``_config.tables.RELEASES``).

    >>> resolve_target("tf2.9"), resolve_target("tf2.15"), resolve_target("tf_keras"), resolve_target("tf2.16")
    ('legacy', 'keras2', 'keras2', 'keras3')
    """
    try:
        return _write.resolve_target(target).generation
    except InvalidConfigError as exc:
        raise ModelFileError(str(exc), value=target, has_value=True) from None


class FixResult(NamedTuple):
    """What :func:`fix_model` did (or, with ``check=True``, would do)."""

    #: whether the stored optimizer entry changes
    changed: bool
    #: the stored entry before and after (as JSON-native dicts)
    before: Dict[str, Any]
    after: Dict[str, Any]
    #: "h5", "keras", "savedmodel" or "tfjs"
    format: str
    #: the Keras generation written ("legacy", "keras2", "keras3"; "keras2" for
    #: TF 2.9/2.10's optimizers.experimental, written where legacy would lose a setting)
    family: str
    #: whether ``dst`` was written
    written: bool
    #: what happened to the stored optimizer state (``state=``): "kept" (unchanged), "converted"
    #: (laid out for ``family``), "dropped", or "none" (the file stores none)
    state: str = "kept"


def native_entry(
    canonical: Mapping[str, Any],
    family: str,
    fmt: str,
    *,
    loader: Optional[str] = None,
    strict: bool = False,
    target: Optional[str] = None,
    custom_objects: CustomObjects = None,
    unknown_keys: str = "error",
) -> Dict[str, Any]:
    """The optimizer entry a loader of ``family`` reads from a ``fmt`` model file.

    ``to_native`` (for the release ``target`` when given, so that classes and
    schedule keys it lacks are refused or lossy) plus the container's own
    conventions (``_config.tables.MODEL_FILE_TOP_LEVEL``; ``loader`` is ``"tf_keras"``
    for tf_keras, else the generation). ``custom_objects``/``unknown_keys`` as
    in :func:`to_native`.

    >>> native_entry({'class_name': 'SGD', 'config': {}}, 'keras2', 'keras')['module']
    'keras.optimizers'
    """
    return native_entry_for(
        canonical,
        target or family,
        fmt,
        loader=loader,
        strict=strict,
        custom_objects=custom_objects,
        unknown_keys=unknown_keys,
    )[0]


def native_entry_for(
    config: Mapping[str, Any],
    target: str,
    fmt: str,
    *,
    loader: Optional[str] = None,
    strict: bool = False,
    custom_objects: CustomObjects = None,
    unknown_keys: str = "error",
) -> Tuple[Dict[str, Any], str]:
    """:func:`native_entry` for release (or generation) ``target``, and the
    generation written (``keras2`` where TF 2.9/2.10 get their
    ``optimizers.experimental`` class; see ``_config.tables.Release.also``)."""
    custom = custom_names(custom_objects)
    canonical = normalize(config, custom_objects=custom, unknown_keys=unknown_keys)
    native, family = _write.write_target(canonical, target, strict=strict, custom=custom)
    native = _loader_class_names(native, fmt, (loader or family, family), custom)
    cls = native["class_name"]
    for key in ((fmt, loader or family, cls), (fmt, family, cls), (fmt, family, "*")):
        extra = T.MODEL_FILE_TOP_LEVEL.get(key)
        if extra is not None:
            return _with_top_level(native, extra), family
    return native, family


def _loader_class_names(native: Dict[str, Any], fmt: str, loaders: Tuple[str, ...], custom: Collection[str]) -> Dict[str, Any]:
    """``native`` with each class spelled as ``loaders``' model-file loader finds it
    (``_config.tables.MODEL_FILE_CLASS_NAMES``), also a wrapper's ``inner_optimizer``;
    the caller's own classes are left as they are."""
    cls = native.get("class_name")
    out = native
    if isinstance(cls, str) and cls not in custom:
        for loader in loaders:
            name = T.MODEL_FILE_CLASS_NAMES.get((fmt, loader, cls))
            if name is not None:
                out = dict(native, class_name=name)
                break
    cfg = out.get("config")
    if isinstance(cfg, dict) and isinstance(cfg.get("inner_optimizer"), dict):
        inner = _loader_class_names(cfg["inner_optimizer"], fmt, loaders, custom)
        if inner is not cfg["inner_optimizer"]:
            out = dict(out, config=dict(cfg, inner_optimizer=inner))
    return out


def loader_of(target: str) -> str:
    """The loader name for MODEL_FILE_TOP_LEVEL: ``"tf_keras"`` or the generation."""
    key = _target_key(target)
    return T.RELEASE_LOADERS.get(key) or resolve_target(target)


def _target_key(target: str) -> str:
    return target.strip().lower().replace("-", "_") if isinstance(target, str) else target


def _with_top_level(native: Dict[str, Any], extra: Mapping[str, Any]) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    if "module" in extra:
        out["module"] = extra["module"]
    out["class_name"] = native["class_name"]
    out["config"] = native["config"]
    if "registered_name" in extra:
        out["registered_name"] = extra["registered_name"]
    return out


def fix_model(
    src: PathLike,
    dst: PathLike,
    target: str,
    *,
    force: bool = False,
    check: bool = False,
    strict: bool = False,
    custom_objects: CustomObjects = None,
    unknown_keys: str = "error",
    state: str = "convert",
) -> FixResult:
    """Copy a model file, rewriting only its stored optimizer for release ``target``.

    ``target`` is a release (``"tf2.4"`` ... ``"tf2.21"``, ``"tf_keras"``,
    ``"keras3"``) or a generation (``"legacy"``, ``"keras2"``, ``"keras3"``).
    The stored optimizer is read (:func:`read_optimizer`) and written back as
    that generation's native dict (:func:`to_native`, with the same
    :class:`LossyConversionWarning`/:class:`DecayConversionWarning`), so the
    target's own ``load_model`` restores it. Everything else in the file is
    copied unchanged. ``src`` is never modified; ``dst`` is written to a
    temporary file (directory, for a SavedModel) in its own folder and then
    renamed into place; an existing ``dst`` is refused unless ``force=True``.
    With ``check=True`` nothing is written and the result says whether
    anything would change. A format the target's ``load_model`` cannot open
    (``.keras`` for TF <= 2.11, a SavedModel for Keras 3, TF.js for any) gives
    :class:`FileFormatWarning` saying what it opens instead, or
    :class:`ModelFileError` with ``strict=True``; so does a stored model config
    the target's loader cannot build (:class:`ModelConfigWarning`, naming the
    first layer and key: :func:`unbuildable`, ``_config.tables.MODEL_FEATURES``).
    ``unknown_keys="keep"``: as in :func:`read_optimizer` (kept keys and classes
    are written through unchanged). Imports no TensorFlow.

    ``state`` is for the stored optimizer state (iteration count, slots), which
    every native loader assigns by position: ``"convert"`` (default) lays an
    ``.h5`` file's state out as the target generation's class creates it,
    under its names (legacy <-> Keras 2), so the target's own ``load_model`` +
    ``fit`` resumes; where that cannot be exact (another format, Keras 3, an
    untied slot) the state of an ``.h5`` is dropped, and that of a ``.keras``
    or SavedModel kept, with an :class:`OptimizerStateWarning` saying why
    (:func:`kerasopt_compat.load_model` restores it by variable either way).
    ``"drop"`` removes an ``.h5`` file's state; ``"keep"`` copies it unchanged.
    ``FixResult.state`` says which happened.

    >>> fix_model("saved_by_tf215.h5", "for_tf29.h5", "tf2.9").changed   # doctest: +SKIP
    True
    """
    resolve_target(target)  # an unknown target: ModelFileError before reading anything
    if state not in _STATE_ACTIONS:
        raise ModelFileError("state must be one of %s, not %r" % (_STATE_ACTIONS, state))
    src_path, dst_path = os.fspath(src), os.fspath(dst)
    stored = read_model_file(src_path)
    container = BY_FORMAT[stored.format]
    if state == "drop" and not container.state_removable:
        raise ModelFileError(
            "%s: state='drop' removes the optimizer state of .h5 files only (this is a %s)" % (src_path, stored.format)
        )
    canonical = _canonical(stored, custom_objects, unknown_keys)
    try:
        with warnings.catch_warnings():  # already said by _canonical
            warnings.simplefilter("ignore", UnknownKeyWarning)
            after, family = native_entry_for(
                canonical,
                target,
                stored.format,
                loader=T.RELEASE_LOADERS.get(_target_key(target)),
                strict=strict,
                custom_objects=custom_objects,
                unknown_keys=unknown_keys,
            )
    except KerasOptCompatError as exc:
        exc.note_file(src_path)
        raise
    reason, category = unopenable(src_path, stored.format, target), FileFormatWarning
    if reason is None:
        reason, category = unbuildable(src_path, stored.format, target), ModelConfigWarning
    if reason is not None:
        message = "%s: %s" % (src_path, reason)
        if strict:
            raise ModelFileError(message)
        warnings.warn(message, category, stacklevel=2)
    before = json.loads(json.dumps(stored.optimizer))
    changed = before != after
    action, weights = _state_action(src_path, stored, family, state, custom_objects, unknown_keys)
    if check:
        return FixResult(changed, before, after, stored.format, family, False, action)
    _refuse_input_as_output(src_path, dst_path, "fix_model")
    if os.path.lexists(dst_path) and not force:
        raise ModelFileError("%s: already exists; pass force=True (--force) to replace it" % dst_path)
    if os.path.lexists(dst_path) and os.path.isdir(dst_path) != container.folder:
        raise ModelFileError(
            "%s: exists and is a %s; the output is a %s"
            % (
                dst_path,
                "directory" if os.path.isdir(dst_path) else "file",
                "%s directory" % container.label if container.folder else "file",
            )
        )
    written = weights if action == "converted" else None if action == "dropped" else KEEP_STATE
    container.write(Rewrite(src_path, dst_path, after, compile_null_defaults(stored, family), written, family))
    return FixResult(changed, before, after, stored.format, family, True, action)


def _refuse_input_as_output(src: str, dst: str, who: str) -> None:
    """``ModelFileError`` when ``dst`` is ``src`` or overlaps it (one inside the other; a SavedModel's folder),
    with symlinks resolved and hard links seen (``_files.atomic.same_file``): the input is never replaced."""

    src_whole = os.path.dirname(src) if os.path.basename(src) == _METADATA_PB else src
    if same_file(src, dst) or same_file(src_whole, dst):
        why = "it is the input %s" % src
    elif overlap(src_whole, dst):
        why = "it overlaps the input %s (one lies inside the other)" % src_whole
    else:
        return
    raise ModelFileError(
        "%s: the output must be a new path; %s never modifies its input: %s, once links are resolved" % (dst, who, why)
    )


#: fix_model's ``state`` values.
_STATE_ACTIONS = ("convert", "drop", "keep")


def _state_action(
    src: str, stored: StoredModel, family: str, state: str, custom_objects: CustomObjects, unknown_keys: str
) -> Tuple[str, Any]:
    """``(FixResult.state, the .h5 optimizer weights to write)`` for ``state``; warns what is not exact."""

    container = BY_FORMAT[stored.format]
    if state == "keep" or not container.stores_state:
        return "kept", None
    try:
        with warnings.catch_warnings():  # what the entry holds was said already (_canonical)
            warnings.simplefilter("ignore", ConversionWarning)
            warnings.simplefilter("ignore", UnknownKeyWarning)
            found = read_state(src, custom_objects=custom_objects, unknown_keys=unknown_keys)
    except UnsafeModelFileError:
        raise  # a link out of the file, a special file: refused, never copied on with a warning
    except KerasOptCompatError as exc:
        if state == "drop":
            return "dropped", None
        warnings.warn(
            "%s: the optimizer state was copied unchanged: kerasopt_compat cannot read it (%s); the target's native "
            "loader assigns it by position" % (src, exc),
            OptimizerStateWarning,
            stacklevel=3,
        )
        return "kept", None
    extra = found.extra if isinstance(found.extra, Mapping) else {}
    if not found.variables and not found.iterations and not extra.get("raw_iterations"):
        return "none", None
    if state == "drop":
        warnings.warn(
            "%s: the optimizer state was dropped (state='drop'): training restarts fresh" % src, DroppedStateWarning, stacklevel=3
        )
        return "dropped", None
    saver = found.saver.generation if found.saver else None
    if saver == family and (found.saver is None or found.saver.layout is None):
        return "kept", None  # a stand-alone Keras 2.x layout is laid out anew, also for a legacy target
    layout, reasons = container.lay_out_state(found, family)
    if layout is None:
        where = "dropped" if container.state_removable else "copied unchanged"
        why = "; ".join(reasons)
        warnings.warn(
            "%s: the %s optimizer state was %s for a %s target: %s; kerasopt_compat.load_model restores it by variable "
            "from the original file" % (src, saver, where, family, why),
            DroppedStateWarning if container.state_removable else OptimizerStateWarning,
            stacklevel=3,
        )
        return ("dropped" if container.state_removable else "kept"), None
    for note in layout.notes:
        warnings.warn("%s: %s" % (src, note), DroppedStateWarning, stacklevel=3)

    cls = (found.optimizer or {}).get("class_name")
    cfg = (found.optimizer or {}).get("config") or {}
    for rule in rule_differences(cls, cfg, str(saver), family):
        warnings.warn("%s: state converted %s -> %s: %s" % (src, saver, family, rule.what), rule.warning, stacklevel=3)
    if cls == "Nadam" and "keras2" in (saver, family) and not rule_differences(cls, cfg, str(saver), family):
        warnings.warn(
            "%s: state converted %s -> %s: Keras 2's Nadam does not store its momentum product (and multiplies it once "
            "per variable in a traced train step); m, v and iterations are exact, the product is recomputed from "
            "iterations=%d" % (src, saver, family, found.iterations or 0),
            NadamScheduleWarning,
            stacklevel=3,
        )
    return "converted", layout


def compile_null_defaults(stored: StoredModel, family: str) -> Dict[str, Any]:
    """The stored compile arguments that are null where a ``family`` loader needs a
    value, with that value (``_config.tables.COMPILE_NULL_DEFAULTS``)."""
    defaults = T.COMPILE_NULL_DEFAULTS.get((stored.format, family), {})
    return {key: value for key, value in defaults.items() if key in stored.compile_args and stored.compile_args[key] is None}

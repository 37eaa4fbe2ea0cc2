"""The containers, in the order they are tried, and recognising which one a path is.

A new container is one module (a :class:`~kerasopt_compat._files.base.Container`
subclass and its ``CONTAINER``) and one row in :data:`CONTAINERS`.
"""

from __future__ import annotations

import os
from typing import Dict, Tuple

from .._errors import ModelFileError
from . import checkpoint, h5, keras_zip, savedmodel, tfjs
from .base import Container
from .safefs import open_regular

#: Every container, in the order :func:`detect` asks them.
#: A training checkpoint first: its data shards hold raw bytes, which could look like another container's start.
CONTAINERS: Tuple[Container, ...] = (
    checkpoint.CONTAINER,
    savedmodel.CONTAINER,
    h5.CONTAINER,
    keras_zip.CONTAINER,
    tfjs.CONTAINER,
)
#: The containers by ``format``.
BY_FORMAT: Dict[str, Container] = {c.format: c for c in CONTAINERS}


def detect(path: str) -> Container:
    """The container ``path`` is, recognised by content (a folder by its files; a training checkpoint by its
    prefix, which is no file), not by its name; :class:`ModelFileError` when it is none of them (a FIFO or
    device too, never a blocking open)."""
    folder = os.path.isdir(path)
    head = None
    unreadable = None
    if not folder and os.path.basename(path) != savedmodel._METADATA_PB:
        try:
            with open_regular(path) as fh:
                head = fh.read(8)
        except OSError as exc:  # no such file: still a training checkpoint's prefix
            unreadable = ModelFileError("%s: cannot open: %s" % (path, exc.strerror or exc))
    for container in CONTAINERS:
        if container.claims(path, head):
            return container
    if unreadable is not None:
        raise unreadable
    if folder:
        raise savedmodel.CONTAINER.refuse_folder(path)
    raise ModelFileError("%s: not a Keras model file (.h5, .keras, SavedModel directory or TF.js model.json)" % path)

"""Data sources: each on-disk format is a registered loader returning a Manifest and its skips.

``load_source(name, path, **options) -> LoadResult``; ``SOURCES.names()`` lists the formats;
``SOURCES.get(name)`` is a ``Source`` with ``.face_cropped`` and ``.layout``.
"""

from __future__ import annotations

import os

from ferbias.data.sources import (  # noqa: F401  (imported to register the sources)
    affectnet,
    celeba,
    cfd,
    ckplus48,
    expw,
    fairface,
    fer2013,
    jaffe,
    kdef,
    labels,
    manifest,
    rafd,
    rafdb,
    trainingdata_fer,
    utkface,
)
from ferbias.data.sources.base import SOURCES, LoadResult, Source
from ferbias.data.sources.labels import join_labels, read_labels

__all__ = [
    "SOURCES",
    "LoadResult",
    "Source",
    "is_face_cropped",
    "join_labels",
    "load_source",
    "read_labels",
]


def load_source(name: str, path: str | os.PathLike, **options) -> LoadResult:
    """Load source ``name`` from ``path``; an unknown name raises ``UnknownNameError``."""
    return SOURCES.get(name)(path, **options)


def is_face_cropped(name: str) -> bool:
    """True when the source's images are already tight face crops (no face detection needed).

    A name that is not registered (e.g. a user manifest loaded with ``source="mydata"``) counts as
    photos: False.
    """
    return name in SOURCES and SOURCES.get(name).face_cropped

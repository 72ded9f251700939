"""A small local web page for labelling apparent gender by hand (``ferbias annotate``)."""

from ferbias.annotate.server import AnnotationStore, make_server, serve

__all__ = ["AnnotationStore", "make_server", "serve"]

"""A small local web page for labelling apparent gender by hand (``ferbias annotate``).

Two modes: review (every face with its automatic label, answers into a labels file) and blind
(one pass over a gold plan's faces, nothing but the faces shown, answers into a pass file).
"""

from ferbias.annotate.blind import BlindStore
from ferbias.annotate.review import ReviewStore
from ferbias.annotate.server import make_server, serve

__all__ = ["BlindStore", "ReviewStore", "make_server", "serve"]

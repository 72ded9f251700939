"""ferbias: controlled group-isolation experiments for facial emotion recognition."""

__version__ = "0.1.0"

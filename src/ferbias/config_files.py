"""YAML configuration files (experiment specs, audit specs, model cards): read and validate them
with errors that name the file and the line or the field.

``read_yaml_mapping`` turns a file that is not UTF-8, not valid YAML or not a mapping into one
line naming the file (and the line and column for YAML errors). ``validate`` runs a pydantic
model and turns its errors into one line per bad field, ``<file>: field 'a.b.0': <message>``.
Both raise the caller's own ``ValueError`` subclass (``SpecError``, ``ModelCardError``, ...).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

NOT_TEXT = "{source}: not UTF-8 text ({error}); expected {what} in YAML"
NOT_YAML = "{source}: not valid YAML: {problem} (line {line}, column {column})"
NOT_MAPPING = "{source}: {what} must be a YAML mapping, got {kind}"
FIELD_INVALID = "{source}: field {field!r}: {message}"
PYDANTIC_PREFIX = "Value error, "  # what pydantic puts before a validator's own message

Model = TypeVar("Model", bound=BaseModel)


def read_yaml_mapping(
    path: str | os.PathLike, *, what: str, error: type[ValueError]
) -> dict[str, Any]:
    """The mapping in the YAML file ``path`` (``what`` it should hold, e.g. "an audit spec");
    ``error`` naming the file when it is not UTF-8, not valid YAML or not a mapping."""
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except UnicodeDecodeError as problem:
        raise error(NOT_TEXT.format(source=path, error=problem, what=what)) from None
    except yaml.YAMLError as problem:
        raise error(yaml_message(path, problem)) from None
    return require_mapping(raw, source=str(path), what=what, error=error)


def require_mapping(raw: object, *, source: str, what: str, error: type[ValueError]) -> dict:
    """``raw`` when it is a mapping, else ``error`` naming ``source``."""
    if not isinstance(raw, dict):
        raise error(NOT_MAPPING.format(source=source, what=what, kind=type(raw).__name__))
    return raw


def yaml_message(source: str | os.PathLike, problem: yaml.YAMLError) -> str:
    """One line: what the YAML parser objected to, and where."""
    mark = getattr(problem, "problem_mark", None)
    text = getattr(problem, "problem", None) or str(problem).splitlines()[0]
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else ("?", "?")
    return NOT_YAML.format(source=source, problem=text, line=line, column=column)


def validate(model: type[Model], raw: dict, *, source: str, error: type[ValueError]) -> Model:
    """``model`` validated from ``raw``; ``error`` with one line per bad field otherwise."""
    try:
        return model.model_validate(raw)
    except ValidationError as invalid:
        lines = [
            FIELD_INVALID.format(
                source=source,
                field=".".join(str(part) for part in item["loc"]) or "(top level)",
                message=item["msg"].removeprefix(PYDANTIC_PREFIX),
            )
            for item in invalid.errors()
        ]
        raise error("\n".join(lines)) from None

"""Audit specs: which group-labelled test sets to evaluate a model on (pydantic, YAML).

::

    name: cfd-jaffe                  # the report folder: <out>/<name>/
    group_col: gender                # any manifest column
    groups: [female, male]           # the gap is first minus second
    test_sets:
      - name: cfd
        source: {source: cfd, path: "${FERBIAS_DATA}/cfd_subset"}
      - name: jaffe
        source: {source: jaffe, path: "${FERBIAS_DATA}/jaffe"}
      - name: fer2013-test           # FER-2013's official test images with gender labels
        source: {source: fer2013, path: "${FERBIAS_DATA}/fer2013"}
        split: test
        limit: 7000                  # at most this many images, drawn with ``seed``
    n_resamples: 2000                # bootstrap resamples and permutations
    seed: 0

A source is given as in an experiment spec (``ferbias.experiment.spec.SourceSpec``; a user's
own data is ``{source: manifest, path: my.csv}``). Errors name the file and the field.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ferbias.config_files import read_yaml_mapping, validate
from ferbias.experiment.spec import FolderName, Seed, SourceSpec, apply_overrides

SPEC_KIND = "an audit spec"


class AuditSpecError(ValueError):
    """An audit spec that does not validate; the message names the file and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AuditSet(_Strict):
    """One group-labelled test set."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.:-]+$")
    source: SourceSpec
    split: Literal["train", "val", "test"] | None = Field(
        None, description="keep only images of this original split (e.g. FER-2013's test)"
    )
    limit: int | None = Field(None, ge=1, description="at most this many images, drawn at random")


class AuditSpec(_Strict):
    """A whole audit: test sets, grouping and the resampling settings."""

    name: FolderName = Field(description="folder name under --out (letters, digits, _ - .)")
    description: str = ""
    group_col: str = "gender"
    groups: list[str] = Field(default_factory=lambda: ["female", "male"], min_length=1)
    test_sets: list[AuditSet] = Field(min_length=1)
    n_resamples: int = Field(2000, ge=100)
    seed: Seed = 0


def load_audit_spec(path: str | os.PathLike, overrides: list[str] | tuple[str, ...] = ()):
    """Read a YAML audit spec, apply dotted ``key=value`` overrides and validate it."""
    raw = apply_overrides(read_yaml_mapping(path, what=SPEC_KIND, error=AuditSpecError), overrides)
    raw.setdefault("name", Path(path).stem)
    return validate(AuditSpec, raw, source=str(path), error=AuditSpecError)

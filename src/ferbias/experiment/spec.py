"""Experiment specs: pydantic models, YAML loading and dotted ``key=value`` overrides.

A spec says which images to use (sources, emotion set, grouping column, sizes), which test sets to
evaluate on, and which models to train (models x variants x train groups x seeds). Paths may use
``${FERBIAS_DATA}`` (default ``../shared/data``), so one spec works on every machine and a test can
point it at synthetic data.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from ferbias.config_files import read_yaml_mapping, validate
from ferbias.data.schema import EMOTIONS, STUDY_EMOTIONS

MIXED = "mixed"  # train group drawn half from each group, same size and per-emotion counts
DEFAULT_DATA_ROOT = "../shared/data"

SPEC_KIND = "an experiment spec"
OVERRIDE_SYNTAX = "override {item!r}: expected key=value with a dotted key, e.g. train.epochs=2"
OVERRIDE_PATH = "override {item!r}: {key!r} is not a field of {parent!r}; fields: {valid}"
OVERRIDE_INDEX = "override {item!r}: {key!r} is not a valid index for a list of {length}"
UNKNOWN_EMOTIONS = "unknown emotion(s) {bad}; allowed: {allowed}"
MIXED_NEEDS_TWO = "train group 'mixed' needs exactly two groups in data.groups, got {groups}"
UNKNOWN_TRAIN_GROUP = "train group {bad!r} is neither one of data.groups {groups} nor 'mixed'"
UNKNOWN_OPTIONS_MODEL = (
    "train.model_options names model {bad!r}, which is not in train.models {models}"
)
GOLD_NEEDS_GENDER = (
    "data.gold_test holds gender gold; data.group_col must be 'gender', not {column!r}"
)
UNKNOWN_VARIANTS_MODEL = (
    "train.model_variants names model {bad!r}, which is not in train.models {models}"
)
NOT_A_GRID_VARIANT = "train.model_variants lists {bad!r}, which is not in train.variants {variants}"
UNKNOWN_SIZE_GROUP = "sizes name group {bad!r}; allowed: data.groups {groups}"
OVERRIDE_NOT_YAML = "override {item!r}: the value is not valid YAML: {problem}"
BAD_FOLDER_NAME = (
    "{value!r} is not a folder name: expected letters, digits, '_', '-' and '.', "
    "not starting with '.' (it names the folder OUT/<name>)"
)
BAD_GROUP_NAME = (
    "group {value!r} cannot be part of a run folder name: no '/', '\\', NUL, and not '.' or '..'"
)
ESCAPES_OUT = "{name!r} would put results outside {out}; expected a plain folder name"
FOLDER_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")

Seed = Annotated[int, Field(ge=0)]  # numpy and torch generators take seeds >= 0


def _folder_name(name: str) -> str:
    if not FOLDER_NAME.match(name):
        raise ValueError(BAD_FOLDER_NAME.format(value=name))
    return name


# A name that becomes the folder OUT/<name> (experiments, audits): it cannot leave OUT.
FolderName = Annotated[str, AfterValidator(_folder_name)]


class SpecError(ValueError):
    """A spec that does not validate; the message names the file, the field and what is allowed."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceSpec(_Strict):
    """One data source: a name from ``ferbias.data.sources.SOURCES``, a path and its options."""

    source: str = Field(description="source name, e.g. fer2013, manifest, cfd, jaffe")
    path: str = Field(description="folder or file; ${FERBIAS_DATA} is expanded")
    options: dict[str, Any] = Field(default_factory=dict, description="passed to load_source")
    face_crop: bool | None = Field(None, description="detect and crop faces; None: per source")

    def resolved_path(self) -> Path:
        """``path`` with ``${FERBIAS_DATA}`` and other environment variables expanded."""
        root = os.environ.get("FERBIAS_DATA", DEFAULT_DATA_ROOT)
        expanded = self.path.replace("${FERBIAS_DATA}", root)
        return Path(os.path.expandvars(expanded)).expanduser()


# sizes per split: one number for every group, or one number per group (e.g. the study's sizes).
SplitSizes = int | dict[str, int]


class SizesSpec(_Strict):
    """Caps on images per group and split, drawn stratified by emotion; None keeps all."""

    train: SplitSizes | None = None
    val: SplitSizes | None = None
    test: SplitSizes | None = None

    def for_split(self, split: str, group: str) -> int | None:
        value = getattr(self, split)
        return value.get(group) if isinstance(value, dict) else value


class GoldTestSpec(_Strict):
    """Hand-reviewed faces held out of training (with their exact and near duplicates) and
    tested on as an extra test set whose groups come from the gold consensus, not a labeller."""

    path: str = Field("default", description="gold CSV; 'default': labels/fer2013_gender_gold.csv")
    source: str = Field("fer2013", description="the data source whose files the gold names")
    name: str = Field("fer2013-gold", description="test_set name of the held-out gold faces")
    # The random sample only: targeted faces are not a random draw, so a test set of them
    # would not describe the population.
    parts: list[str] = Field(default_factory=lambda: ["random-fit", "random-audit"], min_length=1)

    def resolved_path(self) -> Path:
        if self.path == "default":
            from ferbias.gender.domain_gold import DEFAULT_GOLD

            return DEFAULT_GOLD
        root = os.environ.get("FERBIAS_DATA", DEFAULT_DATA_ROOT)
        return Path(os.path.expandvars(self.path.replace("${FERBIAS_DATA}", root))).expanduser()


class DataSpec(_Strict):
    """The primary images: sources, emotion set, groups, splits and sizes."""

    name: str = Field("heldout", description="test_set name of the groups' held-out test images")
    sources: list[SourceSpec] = Field(min_length=1)
    emotions: list[str] = Field(default_factory=lambda: list(STUDY_EMOTIONS))
    group_col: str = Field("gender", description="any manifest column, e.g. gender or race")
    groups: list[str] = Field(default_factory=lambda: ["female", "male"], min_length=1)
    match_sizes: bool = Field(True, description="equal per-emotion counts in every group")
    sizes: SizesSpec = Field(default_factory=SizesSpec)
    val_fraction: float = Field(0.15, gt=0, lt=1, description="carved from train")
    test_fraction: float = Field(0.15, gt=0, lt=1, description="only where no official test")
    split_seed: Seed = Field(0, description="seed of splits, size caps and matching")
    # Duplicate groups never straddle splits: "exact" hashes file bytes; "near" also finds
    # near-identical images (perceptual hash; prepares every image once, cached).
    duplicates: Literal["none", "exact", "near"] = "exact"
    image_size: int = Field(48, ge=8, le=256)
    gold_test: GoldTestSpec | None = Field(None, description="hold hand-labelled faces out")

    @field_validator("emotions")
    @classmethod
    def _known_emotions(cls, emotions: list[str]) -> list[str]:
        bad = sorted(set(emotions) - set(EMOTIONS))
        if bad:
            raise ValueError(UNKNOWN_EMOTIONS.format(bad=bad, allowed=list(EMOTIONS)))
        if len(emotions) < 2:
            raise ValueError("at least two emotions are needed")
        return emotions

    @field_validator("groups")
    @classmethod
    def _groups_fit_in_folder_names(cls, groups: list[str]) -> list[str]:
        for group in groups:
            if group in ("", ".", "..") or any(c in group for c in "/\\\0"):
                raise ValueError(BAD_GROUP_NAME.format(value=group))
        return groups

    @model_validator(mode="after")
    def _gold_test_needs_gender(self) -> DataSpec:
        if self.gold_test is not None and self.group_col != "gender":
            raise ValueError(GOLD_NEEDS_GENDER.format(column=self.group_col))
        return self

    @model_validator(mode="after")
    def _sizes_name_groups(self) -> DataSpec:
        for split in ("train", "val", "test"):
            value = getattr(self.sizes, split)
            if isinstance(value, dict):
                for group in set(value) - set(self.groups):
                    raise ValueError(UNKNOWN_SIZE_GROUP.format(bad=group, groups=self.groups))
        return self


class TestSetSpec(_Strict):
    """An external test set (e.g. CFD, JAFFE); only images of the spec's emotions are used."""

    name: str
    source: SourceSpec
    # True: when its path does not exist the experiment runs without it, says so in one line,
    # and records it in experiment.json and the report (data sets that cannot be downloaded).
    optional: bool = False


class TrainSpec(_Strict):
    """What to train: the grid is models x variants x train groups x seeds."""

    models: list[str] = Field(default_factory=lambda: ["paper-cnn"], min_length=1)
    # Per model name, options for create_model (e.g. {vgg-fer: {width: 64}}); variants add theirs.
    model_options: dict[str, dict[str, Any]] = Field(default_factory=dict)
    variants: list[str] = Field(default_factory=lambda: ["baseline"], min_length=1)
    # Per model name, the variants it trains (a subset of ``variants``); others train them all.
    model_variants: dict[str, list[str]] = Field(default_factory=dict)
    groups: list[str] = Field(
        default_factory=lambda: ["female", "male", MIXED], min_length=1, description="train groups"
    )
    seeds: list[Seed] = Field(default_factory=lambda: [0], min_length=1)
    epochs: int = Field(20, ge=1, description="the study trained 20 epochs")
    batch_size: int | None = Field(None, ge=1, description="None: the variant's (study: 64)")
    # Stop a run after this many epochs without a better validation score. Applied only to
    # recipes with a constant learning rate, where it cannot change which weights are kept
    # unless a later epoch would have beaten the best one; None = train every epoch.
    early_stopping_patience: int | None = Field(None, ge=1)
    # auto: bf16 autocast where the device has native bf16 (CUDA, AVX512-BF16 / AMX CPUs), else
    # fp32; resolved on the machine that trains, and part of every run id.
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto: CUDA when present")

    @model_validator(mode="after")
    def _model_variants_known(self) -> TrainSpec:
        for model, names in self.model_variants.items():
            if model not in self.models:
                raise ValueError(UNKNOWN_VARIANTS_MODEL.format(bad=model, models=self.models))
            for name in set(names) - set(self.variants):
                raise ValueError(NOT_A_GRID_VARIANT.format(bad=name, variants=self.variants))
        return self

    def variants_for(self, model: str) -> list[str]:
        """The variants ``model`` trains, in the order of ``variants``."""
        chosen = self.model_variants.get(model, self.variants)
        return [name for name in self.variants if name in chosen]


class ExperimentSpec(_Strict):
    """A whole experiment: its name, data, external test sets and training grid."""

    name: FolderName = Field(description="folder name under --out (letters, digits, _ - .)")
    description: str = ""
    data: DataSpec
    test_sets: list[TestSetSpec] = Field(default_factory=list)
    train: TrainSpec = Field(default_factory=TrainSpec)
    # processes: one single-thread run per core, the fastest way through a grid on one machine
    # (full.yaml on 2 cores: 19.6 h against 27.7 h for local, which gives one run both cores).
    executor: Literal["local", "processes", "ray"] = "processes"

    @model_validator(mode="after")
    def _train_groups_known(self) -> ExperimentSpec:
        for model in set(self.train.model_options) - set(self.train.models):
            raise ValueError(UNKNOWN_OPTIONS_MODEL.format(bad=model, models=self.train.models))
        for group in self.train.groups:
            if group == MIXED and len(self.data.groups) != 2:
                raise ValueError(MIXED_NEEDS_TWO.format(groups=self.data.groups))
            if group != MIXED and group not in self.data.groups:
                raise ValueError(UNKNOWN_TRAIN_GROUP.format(bad=group, groups=self.data.groups))
        return self


def load_spec(
    path: str | os.PathLike, overrides: list[str] | tuple[str, ...] = ()
) -> ExperimentSpec:
    """Read a YAML spec, apply dotted ``key=value`` overrides and validate it."""
    raw = read_yaml_mapping(path, what=SPEC_KIND, error=SpecError)
    return spec_from_dict(apply_overrides(raw, overrides), source=str(path))


def output_path(out: str | os.PathLike, *names: str) -> Path:
    """``out/names[0]/names[1]/...``; ``ValueError`` when a name would leave ``out`` (an absolute
    path, a separator, '..'): the check where result paths are built, behind the spec's own."""
    path = Path(out)
    for name in names:
        child = path / name
        if name in ("", ".", "..") or child.parent != path or Path(name).is_absolute():
            raise ValueError(ESCAPES_OUT.format(name=name, out=path))
        path = child
    return path


def spec_from_dict(raw: dict[str, Any], *, source: str = "<spec>") -> ExperimentSpec:
    """Validate a spec mapping; errors become one ``SpecError`` naming every bad field."""
    return validate(ExperimentSpec, raw, source=source, error=SpecError)


def apply_overrides(raw: dict[str, Any], overrides: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """A copy of ``raw`` with each ``a.b.c=value`` set; values are parsed as YAML (2, [0, 1], x)."""
    result = yaml.safe_load(yaml.safe_dump(raw))
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise SpecError(OVERRIDE_SYNTAX.format(item=item))
        parts = key.strip().split(".")
        parent = _walk(result, parts[:-1], item)
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as error:
            problem = getattr(error, "problem", None) or "cannot parse"
            raise SpecError(OVERRIDE_NOT_YAML.format(item=item, problem=problem)) from None
        _assign(parent, parts[-1], value, item)
    return result


def _walk(node: Any, parts: list[str], item: str) -> Any:
    """Descend ``parts``, creating mappings for fields absent so far (defaults in the models)."""
    for index, part in enumerate(parts):
        if isinstance(node, list):
            node = node[_list_index(node, part, item)]
            continue
        if not isinstance(node, dict):
            parent = ".".join(parts[:index]) or "(top level)"
            raise SpecError(OVERRIDE_PATH.format(item=item, key=part, parent=parent, valid="none"))
        node = node.setdefault(part, {})
    return node


def _assign(parent: Any, key: str, value: Any, item: str) -> None:
    if isinstance(parent, list):
        parent[_list_index(parent, key, item)] = value
    elif isinstance(parent, dict):
        parent[key] = value
    else:
        raise SpecError(OVERRIDE_PATH.format(item=item, key=key, parent=item, valid="none"))


def _list_index(node: list, part: str, item: str) -> int:
    if not part.lstrip("-").isdigit() or not -len(node) <= int(part) < len(node):
        raise SpecError(OVERRIDE_INDEX.format(item=item, key=part, length=len(node)))
    return int(part)

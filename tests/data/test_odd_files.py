"""One odd file never aborts a load: links, undecodable names, '::', FIFOs and empty CSVs."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
from test_sources import make_fer_folder, write_image

from ferbias.data.sources import load_source
from ferbias.data.sources.base import (
    BROKEN_LINK,
    FOLDER_SEEN,
    LINK_LOOP,
    NOT_UTF8,
    RESERVED_NAME,
    SPECIAL_FILE,
    walk_files,
)


def _add_odd_entries(folder: Path) -> dict[str, str]:
    """Odd entries in ``folder``; returns file name (as printed) -> expected reason."""
    (folder / "loop_a.jpg").symlink_to(folder / "loop_b.jpg")
    (folder / "loop_b.jpg").symlink_to(folder / "loop_a.jpg")
    (folder / "dangling.jpg").symlink_to(folder / "nowhere.jpg")
    write_image(folder / "Training_9::1.jpg")
    with open(os.fsencode(folder) + b"/Training_\xff.jpg", "wb") as handle:
        handle.write((folder / "Training_9::1.jpg").read_bytes())
    os.mkfifo(folder / "pipe.jpg")
    (folder / "linked.jpg").symlink_to(folder / "Training_1.jpg")  # a good link is followed
    return {
        "loop_a.jpg": LINK_LOOP,
        "loop_b.jpg": LINK_LOOP,
        "dangling.jpg": BROKEN_LINK,
        "Training_9::1.jpg": RESERVED_NAME,
        "Training_\\xff.jpg": NOT_UTF8,
        "pipe.jpg": SPECIAL_FILE,
    }


def test_odd_entries_are_counted_skips_with_reasons(tmp_path):
    root = make_fer_folder(tmp_path / "fer")
    expected = _add_odd_entries(root / "train" / "angry")
    result = load_source("fer2013", root, gender_labels=None)
    skipped = result.skipped
    reasons = dict(zip(skipped["path"].map(lambda p: Path(p).name), skipped["reason"], strict=True))
    assert reasons == expected
    assert len(result.manifest) == 6  # the five images and the good link
    assert "fer2013:train/angry/linked.jpg" in set(result.manifest["sample_id"])
    result.skipped.to_parquet(tmp_path / "skipped.parquet")  # printable, storable paths


def test_odd_entries_in_every_folder_source(tmp_path):
    cfd = tmp_path / "cfd" / "female"
    write_image(cfd / "CFD-WF-001-001-N.jpg")
    (cfd / "CFD-WF-002-001-N.jpg").symlink_to(cfd / "CFD-WF-002-001-N.jpg")  # a self loop
    result = load_source("cfd", tmp_path / "cfd")
    assert len(result.manifest) == 1 and list(result.skipped["reason"]) == [LINK_LOOP]
    ck = tmp_path / "ck" / "CK+48"
    write_image(ck / "happy" / "S010_006_00000013.png")
    (ck / "sadness").symlink_to(ck / "sadness")  # a looping emotion folder
    result = load_source("ckplus48", tmp_path / "ck")
    assert len(result.manifest) == 1 and list(result.skipped["reason"]) == [LINK_LOOP]


def test_walk_files_follows_folder_links_once_and_counts_odd_entries_once(tmp_path):
    root = make_fer_folder(tmp_path / "fer")
    expected = _add_odd_entries(root / "train" / "angry")
    (root / "z_link_to_test").symlink_to(root / "test")  # sorts before the real folder
    (root / "test" / "sad" / "up").symlink_to(root)  # a cycle
    elsewhere = write_image(tmp_path / "elsewhere" / "x.png").parent
    (root / "out").symlink_to(elsewhere)  # a folder reached only through a link
    skipped: list[tuple[str, str]] = []
    files = walk_files(root, skipped)
    relative = [str(f.relative_to(root)) for f in files]
    assert relative == sorted(relative) and "out/x.png" in relative
    assert not any(r.startswith("z_link_to_test") for r in relative)  # the real path wins
    assert {"test/sad/PublicTest_3.jpg", "train/angry/linked.jpg"} <= set(relative)
    reasons = {Path(path).name: reason for path, reason in skipped}
    assert reasons == {**expected, "z_link_to_test": FOLDER_SEEN, "up": FOLDER_SEEN}
    assert len(skipped) == len(reasons)  # every odd entry once


def test_a_root_holding_the_csv_separator_is_refused_by_name(tmp_path):
    root = make_fer_folder(tmp_path / "a::b")
    with pytest.raises(ValueError, match=r"cannot use .*a::b.*'::'"):
        load_source("fer2013", root, gender_labels=None)


def test_manifest_paths_with_the_csv_separator_are_skipped(tmp_path):
    write_image(tmp_path / "ok.png")
    manifest = tmp_path / "m.csv"
    pd.DataFrame({"path": ["ok.png", "x::3"], "emotion": ["happy", "sad"]}).to_csv(
        manifest, index=False
    )
    result = load_source("manifest", manifest)
    assert len(result.manifest) == 1
    assert list(result.skipped["path"]) == ["x::3"]
    assert "row 1" in result.skipped["reason"].iat[0] and "'::'" in result.skipped["reason"].iat[0]


@pytest.mark.parametrize(
    ("source", "name", "options"),
    [
        ("fer2013", "fer2013.csv", {"gender_labels": None}),
        ("manifest", "mine.csv", {}),
    ],
)
def test_an_empty_csv_names_the_file(tmp_path, source, name, options):
    empty = tmp_path / name
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match=rf"{empty} is empty \(not even a header row\); expected"):
        load_source(source, empty, **options)


def test_an_empty_labels_file_names_the_file(tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_bytes(b"")
    with pytest.raises(ValueError, match=rf"{labels} is empty"):
        load_source("fer2013", make_fer_folder(tmp_path / "fer"), gender_labels=labels)

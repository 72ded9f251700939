"""Tests for ``ferbias.data.fetch``: fast, clear failures offline; kagglehub path with a fake."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from test_sources import make_fer_folder, write_image

from ferbias.data import fetch as fetch_module
from ferbias.data.fetch import FETCHABLE, FetchError, fetch

SRC = Path(__file__).parents[2] / "src"


def refuse(*args, **kwargs):
    raise OSError("network unreachable")


def test_offline_fails_fast_with_what_and_where(tmp_path, monkeypatch):
    monkeypatch.setattr(socket, "create_connection", refuse)
    start = time.perf_counter()
    with pytest.raises(FetchError, match=r"cannot reach www.kaggle.com .*msambare/fer2013") as err:
        fetch("fer2013", tmp_path / "fer")
    assert time.perf_counter() - start < 5
    assert str(tmp_path / "fer") in str(err.value) and "train/<emotion>" in str(err.value)


def test_hanging_network_is_cut_by_timeout(tmp_path, monkeypatch):
    def hang(*args, **kwargs):
        time.sleep(3)
        raise TimeoutError("timed out")

    monkeypatch.setattr(socket, "create_connection", hang)
    start = time.perf_counter()
    with pytest.raises(FetchError, match=r"within 0\.2 s"):
        fetch("fer2013", tmp_path, timeout=0.2)
    assert time.perf_counter() - start < 2


def test_by_hand_sources_name_their_url(tmp_path):
    for name in sorted(set(FETCHABLE) - {"fer2013"}):
        with pytest.raises(FetchError, match="cannot be downloaded automatically: request it at"):
            fetch(name, tmp_path)
    with pytest.raises(KeyError, match="known data sets"):
        fetch("kdef", tmp_path)


def test_download_failure_and_success_with_fake_downloader(tmp_path, monkeypatch):
    monkeypatch.setattr(fetch_module, "reachable", lambda host, timeout: True)

    def broken(handle):
        raise RuntimeError("401 Unauthorized")

    with pytest.raises(FetchError, match=r"401 Unauthorized.*Kaggle credentials"):
        fetch("fer2013", tmp_path / "a", downloader=broken)
    source = make_fer_folder(tmp_path / "cache")
    target = fetch("fer2013", tmp_path / "b", downloader=lambda handle: source)
    assert (target / "train" / "angry" / "Training_1.jpg").is_file()
    write_image(target / "train" / "angry" / "Training_5.jpg")
    assert fetch("fer2013", target, downloader=broken) == target  # already present: no download


def test_an_interrupted_copy_is_not_taken_for_a_finished_one(tmp_path, monkeypatch):
    """Ctrl-C while copying the download: the next fetch copies again instead of finding train/
    and test/ and calling a part of FER-2013 "already present"."""
    monkeypatch.setattr(fetch_module, "reachable", lambda host, timeout: True)
    source = make_fer_folder(tmp_path / "cache")
    copytree = shutil.copytree

    copied = []

    def copy_then_stop(a, b):
        if len(copied) == 3:
            raise KeyboardInterrupt
        copied.append(shutil.copy2(a, b))

    def interrupted(src, dst, *args, **options):  # copytree calls itself for sub-folders
        if args:  # a sub-folder: the arguments of the first call, copy_function included
            return copytree(src, dst, *args, **options)
        return copytree(src, dst, copy_function=copy_then_stop, **options)

    monkeypatch.setattr(fetch_module.shutil, "copytree", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fetch("fer2013", tmp_path / "fer", downloader=lambda handle: source)
    monkeypatch.setattr(fetch_module.shutil, "copytree", copytree)
    fetch("fer2013", tmp_path / "fer", downloader=lambda handle: source)
    copied = sorted(p.relative_to(tmp_path / "fer") for p in (tmp_path / "fer").rglob("*.jpg"))
    assert copied == sorted(p.relative_to(source) for p in source.rglob("*.jpg"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "fer"]  # no partial copy left


FAKE_KAGGLEHUB = """
import getpass, os, pathlib, sys
def dataset_download(handle):
    mode = os.environ["FAKE_KAGGLEHUB"]
    if mode == "prompt":
        return getpass.getpass("Kaggle token: ")  # what kagglehub.login does
    if mode == "ask":
        return input("proceed? ")
    folder = pathlib.Path(os.environ["FAKE_KAGGLEHUB_FOLDER"])
    (folder / "train" / "happy").mkdir(parents=True)
    (folder / "test" / "happy").mkdir(parents=True)
    (folder / "train" / "happy" / "Training_1.jpg").write_bytes(b"jpeg")
    print("Downloading... 100%", file=sys.stderr)
    return str(folder)
"""


@pytest.fixture
def fake_kagglehub(tmp_path, monkeypatch):
    """A ``kagglehub`` module the download's child process imports instead of the real one."""
    package = tmp_path / "fake" / "kagglehub"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(FAKE_KAGGLEHUB)
    monkeypatch.setenv("PYTHONPATH", f"{package.parent}:{os.environ.get('PYTHONPATH', '')}")
    monkeypatch.setenv("FAKE_KAGGLEHUB_FOLDER", str(tmp_path / "kaggle-cache"))
    monkeypatch.setattr(fetch_module, "reachable", lambda host, timeout: True)
    return monkeypatch


def _fetch_within(seconds: float, to):
    """``fetch`` in a thread; fails the test instead of hanging when it blocks."""
    outcome: list = []

    def target():
        try:
            outcome.append(fetch("fer2013", to))
        except FetchError as error:
            outcome.append(error)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert outcome, f"fetch blocked for more than {seconds} s"
    return outcome[0]


def test_kagglehub_download_succeeds_in_a_child_process(fake_kagglehub, tmp_path):
    fake_kagglehub.setenv("FAKE_KAGGLEHUB", "download")
    target = _fetch_within(60, tmp_path / "data" / "fer2013")
    assert target == tmp_path / "data" / "fer2013"
    assert (target / "train" / "happy" / "Training_1.jpg").read_bytes() == b"jpeg"


@pytest.mark.parametrize("mode", ["prompt", "ask"])
def test_a_credential_prompt_cannot_block_the_download(fake_kagglehub, tmp_path, mode):
    fake_kagglehub.setenv("FAKE_KAGGLEHUB", mode)
    error = _fetch_within(60, tmp_path / "data" / "fer2013")
    assert isinstance(error, FetchError)
    assert "kagglehub could not download msambare/fer2013" in str(error)
    assert "FERBIAS_DATA" in str(error) and str(tmp_path / "data" / "fer2013") in str(error)


PROMPT_IN_A_TERMINAL = """
import sys
from ferbias.data import fetch
fetch.reachable = lambda host, timeout: True
try:
    fetch.fetch("fer2013", sys.argv[1])
except fetch.FetchError as error:
    print("FetchError:", error)
"""


@pytest.mark.skipif(shutil.which("script") is None, reason="needs util-linux script for a tty")
def test_a_prompt_cannot_block_even_with_a_terminal(fake_kagglehub, tmp_path):
    """Under a pseudo-terminal getpass would read /dev/tty and wait (as kagglehub.login does)."""
    fake_kagglehub.setenv("FAKE_KAGGLEHUB", "prompt")
    fake_kagglehub.setenv("PYTHONPATH", f"{os.environ['PYTHONPATH']}:{SRC}")
    script = tmp_path / "check.py"
    script.write_text(PROMPT_IN_A_TERMINAL)
    command = f"{sys.executable} {script} {tmp_path / 'fer2013'}"
    done = subprocess.run(
        ["script", "-qec", command, "/dev/null"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "FetchError: kagglehub could not download" in done.stdout
    assert "it asked for input" in done.stdout

"""Tests for ``ferbias.data.fetch``: fast, clear failures offline; kagglehub path with a fake."""

from __future__ import annotations

import socket
import time

import pytest
from test_sources import make_fer_folder, write_image

from ferbias.data import fetch as fetch_module
from ferbias.data.fetch import FETCHABLE, FetchError, fetch


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

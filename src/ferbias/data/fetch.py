"""Downloads for users who are online; a clear, fast error for everyone else.

Only FER-2013 can be fetched automatically (Kaggle ``msambare/fer2013`` through ``kagglehub``,
which needs Kaggle credentials for some accounts). Every other data set is released under a
request form or licence agreement: ``fetch`` names its official page and the folder layout the
loader expects. Offline, ``fetch`` fails within ``timeout`` seconds instead of hanging.

It never prompts: kagglehub runs in a child process with no terminal and an empty stdin, so a
credential prompt (``kagglehub.login`` reads the terminal) ends the download with an error
instead of waiting for an answer that a non-interactive run (``make demo`` in CI) never gives.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ferbias.registry import UnknownNameError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FetchInfo:
    """Where a data set comes from and how to get it."""

    url: str
    layout: str  # what the folder passed to ``load_source`` must look like
    kaggle_handle: str | None = None  # set when ``fetch`` can download it with kagglehub


FETCHABLE: dict[str, FetchInfo] = {
    "fer2013": FetchInfo(
        url="https://www.kaggle.com/datasets/msambare/fer2013",
        layout="train/<emotion>/*.jpg and test/<emotion>/*.jpg",
        kaggle_handle="msambare/fer2013",
    ),
    "ckplus48": FetchInfo(
        url="https://www.jeffcohn.net/Resources/ (CK+ agreement; CK+48 crops as on Kaggle)",
        layout="CK+48/<emotion>/S<subject>_<sequence>_<frame>.png",
    ),
    "jaffe": FetchInfo(
        url="https://doi.org/10.5281/zenodo.3451524 (usage agreement)",
        layout="jaffedbase/<poser>.<EXPR><n>.<number>.tiff",
    ),
    "cfd": FetchInfo(
        url="https://www.chicagofaces.org (request form)",
        layout="female/ and male/ folders of CFD-<race><gender>-<id>-<n>-<expr>.jpg",
    ),
    "utkface": FetchInfo(
        url="https://susanqq.github.io/UTKFace/ (non-commercial research)",
        layout="crop_part1/<age>_<gender>_<race>_<datetime>.jpg.chip.jpg",
    ),
    "celeba": FetchInfo(
        url="https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html (agreement)",
        layout="Dataset/Images/*.jpg plus train.csv, validation.csv, test.csv",
    ),
    "trainingdata-fer": FetchInfo(
        url="https://www.kaggle.com/datasets/tapakah68/facial-emotion-recognition",
        layout="images/<set_id>/<Emotion>.jpg plus the ';'-separated set CSV",
    ),
}

UNKNOWN_DATASET = "no download information for {name!r}; known data sets: {known}"
BY_HAND = (
    "{name} cannot be downloaded automatically: request it at {url}, then unpack it into {to} "
    "so that it holds {layout}"
)
DATA_HINT = (
    "or set FERBIAS_DATA to a folder whose {name}/ holds it (specs read $FERBIAS_DATA/{name})"
)
OFFLINE = (
    "cannot reach {host} within {timeout:g} s (offline?). Download {url} by hand and unpack it "
    "into {to} so that it holds {layout}, " + DATA_HINT
)
DOWNLOAD_FAILED = (
    "kagglehub could not download {handle} ({error}). Check your Kaggle credentials "
    "(~/.kaggle/kaggle.json or KAGGLE_USERNAME/KAGGLE_KEY), or download {url} by hand and "
    "unpack it into {to} so that it holds {layout}, " + DATA_HINT
)
KAGGLE_HOST = "www.kaggle.com"
# Run in the child process: prints the folder kagglehub downloaded to.
PROMPTED = "it asked for input (a Kaggle credential prompt?), which ferbias never answers"
KAGGLE_SCRIPT = "import sys, kagglehub; print(kagglehub.dataset_download(sys.argv[1]))"


class FetchError(RuntimeError):
    """A data set could not be fetched; the message says what to download and where to put it."""


def reachable(host: str, *, timeout: float, port: int = 443) -> bool:
    """True when a TCP connection to ``host`` opens within ``timeout`` seconds (DNS included)."""
    outcome: list[bool] = []

    def attempt() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            outcome.append(True)
        except OSError:
            outcome.append(False)

    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(outcome and outcome[0])


def _kaggle_download(handle: str) -> Path:
    """kagglehub's download of ``handle`` in a child process without a terminal (see above)."""
    log.info("downloading %s with kagglehub ...", handle)
    done = subprocess.run(
        [sys.executable, "-c", KAGGLE_SCRIPT, handle],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        start_new_session=True,  # no controlling terminal: getpass cannot open /dev/tty
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        errors = done.stderr.strip().splitlines() or [f"exit code {done.returncode}"]
        raise RuntimeError(PROMPTED if errors[-1].startswith("EOFError") else errors[-1])
    return Path(lines[-1])


def fetch(
    name: str,
    to: str | Path,
    *,
    timeout: float = 5.0,
    downloader: Callable[[str], Path] | None = None,
) -> Path:
    """Download data set ``name`` into the folder ``to`` and return ``to``.

    Raises ``UnknownNameError`` for an unknown name and ``FetchError`` (with what to download and
    where to put it) when the data set must be requested by hand, the network is unreachable, or
    the download fails. A folder that already holds the data set is returned as it is.
    ``downloader(handle) -> folder`` replaces kagglehub (tests).
    """
    if name not in FETCHABLE:
        raise UnknownNameError(UNKNOWN_DATASET.format(name=name, known=sorted(FETCHABLE)))
    info, to = FETCHABLE[name], Path(to).expanduser()
    where = {"name": name, "url": info.url, "to": to, "layout": info.layout}
    if info.kaggle_handle is None:
        raise FetchError(BY_HAND.format(**where))
    if (to / "train").is_dir() and (to / "test").is_dir():
        log.info("%s already present in %s", name, to)
        return to
    if not reachable(KAGGLE_HOST, timeout=timeout):
        raise FetchError(OFFLINE.format(host=KAGGLE_HOST, timeout=timeout, **where))
    try:
        downloaded = (downloader or _kaggle_download)(info.kaggle_handle)
    except Exception as error:  # kagglehub raises many kinds; all mean "not downloaded"
        raise FetchError(
            DOWNLOAD_FAILED.format(handle=info.kaggle_handle, error=error, **where)
        ) from error
    _install(downloaded, to)
    log.info("copied %s from %s to %s", name, downloaded, to)
    return to


def _install(downloaded: Path, to: Path) -> None:
    """Copy ``downloaded`` into ``to`` so that an interrupted copy is never taken for a finished
    one: copy into a hidden folder beside ``to``, then move its entries in, train/ and test/
    (what "already present" looks for) last."""
    partial = to.parent / f".{to.name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    shutil.copytree(downloaded, partial)
    to.mkdir(parents=True, exist_ok=True)
    for entry in sorted(partial.iterdir(), key=lambda entry: entry.name in ("train", "test")):
        target = to / entry.name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)  # left by an earlier, interrupted copy
        os.replace(entry, target)
    partial.rmdir()

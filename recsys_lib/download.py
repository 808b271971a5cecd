"""Cached, checksum-verified downloads and safe archive extraction.

Nothing here runs at import time. Every write goes to a temporary file or folder
that is renamed into place only once it is complete and verified, so an
interrupted or corrupt download never leaves a half-written file in the cache.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from pathlib import Path

__all__ = [
    "ChecksumError",
    "DownloadError",
    "data_home",
    "sha256_of",
    "download_url",
    "pip_download",
    "safe_extract",
]


class DownloadError(RuntimeError):
    """Raised when no source could provide a verified file."""


class ChecksumError(DownloadError):
    """Raised when a file's SHA-256 does not match the pinned value."""


def data_home() -> Path:
    """The cache folder: ``$RECSYS_DATA`` if set, else ``data/`` of the project checkout.

    Outside a checkout (an installed wheel), it falls back to ``~/.cache/recsys_lib``.
    """
    return project_dir("RECSYS_DATA", "data")


def project_dir(env_var: str, name: str) -> Path:
    """``$env_var`` if set, else folder ``name`` of the project checkout, else a home cache."""
    env = os.environ.get(env_var)
    if env:
        return Path(env).expanduser().resolve()
    root = Path(__file__).resolve().parents[1]
    if (root / "pyproject.toml").is_file():
        return root / name
    return Path.home() / ".cache" / "recsys_lib" / ("" if name == "data" else name)


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def _verify_and_move(tmp: Path, dest: Path, sha256: str) -> Path:
    got = sha256_of(tmp)
    if got != sha256:
        tmp.unlink(missing_ok=True)
        raise ChecksumError(
            f"checksum mismatch for {dest.name}: expected {sha256}, got {got}"
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, dest)
    return dest


def download_url(url: str, dest: Path, sha256: str, timeout: float = 30.0,
                 progress: bool = True) -> Path:
    """Download ``url`` to ``dest`` with a progress bar; verify ``sha256``.

    The bytes go to a temporary file beside ``dest`` first; it is renamed to
    ``dest`` only when the checksum matches, and removed on any failure.
    """
    from tqdm import tqdm  # plain bar: no widget warnings inside notebooks

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part",
                                    dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            total = int(resp.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name,
                      disable=not progress, leave=False) as bar:
                for block in iter(lambda: resp.read(1 << 16), b""):
                    out.write(block)
                    bar.update(len(block))
        return _verify_and_move(tmp, dest, sha256)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def pip_download(requirement: str, dest: Path, sha256: str, timeout: float = 300.0) -> Path:
    """Fetch one wheel with ``pip download --no-deps`` (never installed); verify it.

    ``dest`` is the final path of the wheel; pip's own progress bar is shown.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".pip-", dir=dest.parent) as tmpdir:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "-d", tmpdir, requirement]
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, timeout=timeout)
        wheels = list(Path(tmpdir).glob("*.whl"))
        if proc.returncode != 0 or len(wheels) != 1:
            tail = "\n".join(proc.stdout.strip().splitlines()[-3:])
            raise DownloadError(f"pip download {requirement} failed: {tail}")
        return _verify_and_move(wheels[0], dest, sha256)


def safe_extract(archive: Path, dest: Path, members: dict[str, str] | None = None) -> Path:
    """Extract a zip (or chosen ``members`` of it) into the folder ``dest``, atomically.

    ``members`` maps a member name in the archive to a file name under ``dest``;
    by default every file member is extracted under its own name.
    A target that would land outside ``dest`` (absolute paths, ``..``) is refused
    with ``ValueError``. Files are written to a temporary folder which replaces
    ``dest`` only when every member was extracted.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        root = tmp.resolve()
        with zipfile.ZipFile(archive) as zf:
            names = set(zf.namelist())
            if members is None:
                members = {n: n for n in zf.namelist() if not n.endswith("/")}
            for member, target in members.items():
                out = (root / target).resolve()
                if os.path.isabs(target) or root not in out.parents:
                    raise ValueError(f"refusing to extract {member!r} to {target!r}: "
                                     "it would land outside the target folder")
                if member not in names:
                    raise DownloadError(f"{archive.name} has no member {member!r}")
                out.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(member) as src, open(out, "wb") as dst:
                    shutil.copyfileobj(src, dst)
        os.chmod(tmp, 0o755)
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
        return dest
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise

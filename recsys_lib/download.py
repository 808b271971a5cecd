"""Cached, checksum-verified downloads and safe archive extraction.

Nothing here runs at import time. Every write goes to a temporary file or folder
with a unique name beside its target, which is renamed into place (``os.replace``)
only once it is complete and verified, so an interrupted or corrupt download never
leaves a half-written file in the cache. Temporary files that a killed process could
not remove are cleaned by the next fetch (``clean_stale``, under ``cache_lock``).

An extracted folder can carry a manifest (``MANIFEST.json``): the SHA-256 and size of
every file, recorded at extraction, so that a cached file damaged later is detected
(``check_manifest``) instead of being read as it is.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
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
    "MANIFEST",
    "read_manifest",
    "write_manifest",
    "check_manifest",
    "cache_lock",
    "clean_stale",
]

#: name of the manifest written into an extracted folder
MANIFEST = "MANIFEST.json"


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
        try:
            proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise DownloadError(f"pip download {requirement} took longer than {timeout:g} s "
                                "and was stopped") from exc
        wheels = list(Path(tmpdir).glob("*.whl"))
        if proc.returncode != 0 or len(wheels) != 1:
            tail = "\n".join(proc.stdout.strip().splitlines()[-3:])
            raise DownloadError(f"pip download {requirement} failed: {tail}")
        return _verify_and_move(wheels[0], dest, sha256)


def _file_entry(path: Path) -> dict:
    return {"sha256": sha256_of(path), "size": path.stat().st_size}


def _write_json_atomic(path: Path, data: dict) -> None:
    """Write ``data`` as JSON to a uniquely named temporary file beside ``path``, then rename."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1, sort_keys=True)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def write_manifest(folder: Path, files, info: dict | None = None) -> Path:
    """Record SHA-256 and size of ``files`` (names under ``folder``) in ``folder/MANIFEST.json``.

    ``info`` (e.g. the source and the archive's checksum) is stored beside them. The
    manifest is written atomically.
    """
    folder = Path(folder)
    data = dict(info or {})
    data["format"] = 1
    data["files"] = {name: _file_entry(folder / name) for name in files}
    path = folder / MANIFEST
    _write_json_atomic(path, data)
    return path


def read_manifest(folder: Path) -> dict | None:
    """The manifest of ``folder``, ``None`` if it has none; ``ValueError`` if it is unreadable."""
    path = Path(folder) / MANIFEST
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    try:
        data = json.loads(text)
        files = data["files"]
        if not isinstance(files, dict) or not all(
                isinstance(v, dict) and isinstance(v.get("sha256"), str)
                and isinstance(v.get("size"), int) for v in files.values()):
            raise ValueError("malformed 'files' entry")
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path} is damaged ({exc})") from exc
    return data


def check_manifest(folder: Path, manifest: dict, names=None) -> list[str]:
    """Problems of the files ``names`` (default: all in the manifest) against ``manifest``.

    Returns one message per damaged, missing or unrecorded file (an empty list when all
    match). Sizes are compared first, so a truncated file is reported without hashing it.
    """
    folder = Path(folder)
    files = manifest["files"]
    problems = []
    for name in (files if names is None else names):
        path = folder / name
        want = files.get(name)
        if want is None:
            problems.append(f"{path} is not recorded in {folder / MANIFEST}")
        elif not path.is_file():
            problems.append(f"{path} is missing")
        elif path.stat().st_size != want["size"]:
            problems.append(f"{path} is {path.stat().st_size:,} bytes, but {want['size']:,} "
                            "were unpacked")
        elif sha256_of(path) != want["sha256"]:
            problems.append(f"{path} does not match the SHA-256 recorded when it was unpacked "
                            "(its bytes were changed)")
    return problems


@contextlib.contextmanager
def cache_lock(folder: Path, wait_message: str | None = None):
    """Hold an exclusive lock on ``folder`` (a ``.lock`` file in it) for the block.

    Processes fetching into the same cache take turns, so they never collide and any
    temporary file found while holding the lock is stale. Yields ``True`` when the lock
    is held and ``False`` when it cannot be taken (read-only folder, no ``fcntl``); the
    block then runs unlocked and must not clean up.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield False
        return
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        f = open(folder / ".lock", "a")
    except OSError:
        yield False
        return
    with f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if wait_message:
                print(wait_message, file=sys.stderr)
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        except OSError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def clean_stale(folder: Path, patterns) -> list[Path]:
    """Remove what matches the glob ``patterns`` in ``folder`` (files or folders).

    Only call it while holding ``cache_lock``: the matches are then temporary files left
    by a process that was killed. Returns what was removed; errors are ignored.
    """
    folder = Path(folder)
    removed = []
    if not folder.is_dir():
        return removed
    for pattern in patterns:
        for p in folder.glob(pattern):
            try:
                if p.is_dir() and not p.is_symlink():
                    shutil.rmtree(p)
                else:
                    p.unlink()
                removed.append(p)
            except OSError:
                pass
    return removed


def safe_extract(archive: Path, dest: Path, members: dict[str, str] | None = None,
                 manifest: dict | None = None, extra_files: dict[str, str] | None = None) -> Path:
    """Extract a zip (or chosen ``members`` of it) into the folder ``dest``, atomically.

    ``members`` maps a member name in the archive to a file name under ``dest``;
    by default every file member is extracted under its own name.
    A target that would land outside ``dest`` (absolute paths, ``..``) is refused
    with ``ValueError``. Files are written to a temporary folder which replaces
    ``dest`` only when every member was extracted. With ``manifest`` (a dict of
    information, possibly empty), a ``MANIFEST.json`` with the SHA-256 of every extracted
    file is written too; ``extra_files`` maps further file names to their text. Both are
    part of the temporary folder, so they appear together with the files.
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
        for name, text in (extra_files or {}).items():
            out = (root / name).resolve()
            if os.path.isabs(name) or root not in out.parents:
                raise ValueError(f"refusing to write {name!r} outside the target folder")
            out.write_text(text)
        if manifest is not None:
            write_manifest(tmp, list(members.values()), manifest)
        os.chmod(tmp, 0o755)
        old = None
        if dest.exists():
            # move the old folder aside (renaming onto an empty folder is allowed), so that
            # dest is never half-deleted; it is removed once the new one is in place
            old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
            os.replace(dest, old)
        try:
            os.replace(tmp, dest)
        except BaseException:
            if old is not None and not dest.exists():
                os.replace(old, dest)  # put the previous folder back
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return dest
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise

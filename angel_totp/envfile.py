"""Reading an env file and safely rewriting keys in it.

The write is what makes this module exist. ``dotenv.set_key`` turns CRLF
into LF, drops ``export`` and inline comments, replaces symlinks, has no
fsync and no lock. Here instead:

* only the chosen keys' value tokens change (see :mod:`angel_totp.envtext`);
* the new text goes to a temporary file in the target's own folder, is
  fsynced, then ``os.replace``-d over the target, and the folder is
  fsynced: a reader or a crash sees the old file or the new one, never a
  mix or an empty file;
* permission bits (and, where allowed, ownership) are kept; a new file is
  created 0600;
* a symlink is written through to its target and stays a symlink;
* a lock serialises concurrent runs (``flock`` on the folder on POSIX, a
  lock file on Windows), and temporary files of crashed runs are removed;
* the result is read back and checked.
"""

from __future__ import annotations

import errno
import os
import stat
import time
from contextlib import contextmanager
from typing import Iterator

from . import envtext

_TEMP_MARK = ".totp-tmp-"
LOCK_TIMEOUT = 10.0
# What flock (EWOULDBLOCK) and msvcrt.locking (EACCES, EDEADLOCK) say when
# another process holds the lock.
_LOCK_BUSY = {errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES, errno.EDEADLK}


class EnvFileError(Exception):
    """An env file could not be read or written. ``usage`` marks a bad path
    the user named (exit 2) as opposed to a file that failed (exit 1)."""

    def __init__(self, message: str, hint: str | None = None, usage: bool = False):
        super().__init__(message)
        self.hint = hint
        self.usage = usage


class EnvFile:
    """An env file as read: its text, parsed form and permission bits."""

    __slots__ = ("path", "text", "parsed", "mode")

    def __init__(self, path: str, text: str, parsed: envtext.EnvText, mode: int | None):
        self.path = path
        self.text = text        # decoded, BOM included, newlines as on disk
        self.parsed = parsed
        self.mode = mode        # permission bits, None where not meaningful

    def values(self) -> dict[str, str | None]:
        return envtext.values_as_loaded(self.text)


def read_env_file(path: str, named_by_user: bool = False) -> EnvFile | None:
    """Read and parse ``path``; None when it does not exist."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as error:
        raise _os_error("read", path, error, named_by_user) from None
    if not stat.S_ISREG(info.st_mode):
        what = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        raise EnvFileError(f"{path} is {what}",
                           hint="--env-file takes the path of a .env file",
                           usage=named_by_user)
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as error:
        raise _os_error("read", path, error, named_by_user) from None
    return _decode(path, data, info)


def _decode(path: str, data: bytes, info: os.stat_result) -> EnvFile:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise EnvFileError(
            f"{path} is not UTF-8 text (byte {error.start + 1} cannot be decoded)",
            hint="save it as UTF-8; it was left untouched") from None
    try:
        parsed = envtext.parse(text)
    except envtext.EnvSyntaxError as error:
        raise EnvFileError(
            f"{path}: {error}",
            hint="python-dotenv would skip that line; fix it, then run again "
                 "(the file was left untouched)") from None
    mode = None if os.name == "nt" else stat.S_IMODE(info.st_mode)
    return EnvFile(path, text, parsed, mode)


def readable_by_others(env_file: EnvFile) -> bool:
    return env_file.mode is not None and bool(env_file.mode & 0o044)


def update_env_file(path: str, values: dict[str, str],
                    keep_existing: frozenset[str] = frozenset()) -> dict[str, bool]:
    """Set ``values`` in the env file at ``path`` atomically.

    A key in ``keep_existing`` is only added when the file has none.
    Returns, per key, whether it was written. Creates the file (0600) when
    it does not exist.
    """
    target = os.path.realpath(path)  # write through symlinks
    folder = os.path.dirname(target) or "."
    if not os.path.isdir(folder):
        raise EnvFileError(f"cannot write {path}: folder {folder} does not exist",
                           usage=True)
    try:
        return _update_locked(folder, target, values, keep_existing)
    except OSError as error:
        raise _os_error("write", path, error, False) from None


def _update_locked(folder: str, target: str, values: dict[str, str],
                   keep_existing: frozenset[str]) -> dict[str, bool]:
    with _locked(folder, target):
        _remove_stale_temp_files(folder, target)
        current = read_env_file(target)
        parsed = current.parsed if current else envtext.parse("")
        written = {}
        for key, value in values.items():
            if key in keep_existing and parsed.has(key):
                written[key] = False
                continue
            parsed = envtext.set_value(parsed, key, value)
            written[key] = True
        new_text = parsed.render()
        if current is not None and new_text == current.text:
            return written
        _check_rewrite(current.parsed if current else envtext.parse(""),
                       envtext.parse(new_text), values, written)
        data = new_text.encode("utf-8")
        _atomic_write(target, data)
        _verify(target, data)
    return written


def _check_rewrite(before: envtext.EnvText, after: envtext.EnvText,
                   values: dict[str, str], written: dict[str, bool]) -> None:
    """Refuse a rewrite that would change anything but the chosen keys."""
    changed = {k for k, w in written.items() if w}
    kept_before = [b for b in before.bindings if b.key not in changed]
    kept_after = [b for b in after.bindings if b.key not in changed]
    same_others = [(b.key, b.value, b.text.rstrip("\r\n")) for b in kept_before] == [
        (b.key, b.value, b.text.rstrip("\r\n")) for b in kept_after]
    right_values = all(
        b.value == values[b.key] for b in after.bindings
        if b.key in changed and b.value is not None)
    if not (same_others and right_values and after.bom == before.bom):
        raise EnvFileError("refusing to write: the rewrite would change other lines",
                           hint="please report this with the file's layout "
                                "(not its values); the file was left untouched")


def _verify(target: str, data: bytes) -> None:
    # ``data`` itself was checked by _check_rewrite; the same bytes on disk
    # mean the same values.
    with open(target, "rb") as handle:
        back = handle.read()
    if back != data:
        raise EnvFileError(f"{target} did not read back as written",
                           hint="another program may be writing it at the same time")


def _atomic_write(target: str, data: bytes) -> None:
    import tempfile

    folder = os.path.dirname(target) or "."
    try:
        info = os.stat(target)
    except FileNotFoundError:
        info = None
    # mkstemp creates the file 0600, the right mode for a new env file.
    fd, temp = tempfile.mkstemp(prefix=_temp_prefix(target), dir=folder)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if info is not None and os.name != "nt":
                os.fchmod(handle.fileno(), stat.S_IMODE(info.st_mode))
                if (info.st_uid, info.st_gid) != (os.getuid(), os.getgid()):
                    try:
                        os.fchown(handle.fileno(), info.st_uid, info.st_gid)
                    except OSError:
                        pass  # not allowed unless root; the mode is what matters
            os.fsync(handle.fileno())
        os.replace(temp, target)
        temp = None
        _fsync_folder(folder)
    except OSError as error:
        raise _os_error("write", target, error, False) from None
    finally:
        if temp is not None:
            try:
                os.unlink(temp)
            except OSError:
                pass


def _fsync_folder(folder: str) -> None:
    # Makes the rename durable; POSIX only (Windows cannot open folders).
    if os.name == "nt":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on folders
    finally:
        os.close(fd)


def _temp_prefix(target: str) -> str:
    # Hidden, and named after the file it replaces: ".env.totp-tmp-XXXX".
    name = os.path.basename(target)
    return (name if name.startswith(".") else "." + name) + _TEMP_MARK


def _remove_stale_temp_files(folder: str, target: str) -> None:
    # Only a run killed mid-write (SIGKILL, power loss) leaves one; we hold
    # the lock, so none of them belongs to a live run.
    prefix = _temp_prefix(target)
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        if name.startswith(prefix):
            try:
                os.unlink(os.path.join(folder, name))
            except OSError:
                pass


@contextmanager
def _locked(folder: str, target: str) -> Iterator[None]:
    if os.name == "nt":
        with _windows_lock(target):
            yield
        return
    import fcntl

    # Lock the folder, not the file: os.replace swaps the file's inode, so a
    # lock on the file itself would not be seen by the next writer.
    fd = os.open(folder, os.O_RDONLY)
    try:
        _acquire(lambda: fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB), target)
        yield
    finally:
        os.close(fd)  # closing releases the lock


@contextmanager
def _windows_lock(target: str) -> Iterator[None]:
    import msvcrt

    lock_path = target + ".lock"
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        _acquire(lambda: msvcrt.locking(fd, msvcrt.LK_NBLCK, 1), target)
        try:
            yield
        finally:
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
    finally:
        os.close(fd)
        try:
            os.unlink(lock_path)  # fails harmlessly while another run has it open
        except OSError:
            pass


def _acquire(try_lock, target: str) -> None:
    deadline = time.monotonic() + LOCK_TIMEOUT
    while True:
        try:
            try_lock()
            return
        except OSError as error:
            if error.errno not in _LOCK_BUSY:
                raise
            if time.monotonic() >= deadline:
                raise EnvFileError(
                    f"{target} is locked by another run for over {LOCK_TIMEOUT:.0f} s",
                    hint="wait for the other generate_totp.py to finish") from None
            time.sleep(0.02)


def _os_error(action: str, path: str, error: OSError, named_by_user: bool) -> EnvFileError:
    reason = error.strerror or error.__class__.__name__
    hint = None
    if isinstance(error, PermissionError):
        hint = f"check the permissions of {path} and its folder"
    usage = named_by_user and isinstance(error, (FileNotFoundError, NotADirectoryError))
    return EnvFileError(f"cannot {action} {path}: {reason.lower()}", hint=hint, usage=usage)

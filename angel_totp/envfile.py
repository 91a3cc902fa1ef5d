"""Reading an env file, and rewriting keys in it safely under races.

:func:`read_env_file` reads and parses a file. :func:`update_env_file`
rewrites keys in it; :func:`check_writable` checks beforehand everything
that can be checked before a value is chosen. ``dotenv.set_key`` turns CRLF
into LF, drops ``export`` and inline comments, replaces symlinks, has no
fsync and no lock. Here instead:

* only the chosen keys' value tokens change (see :mod:`angel_totp.envtext`);
* the file is locked, and the values are chosen (``compute``) only once the
  lock is held and the file read, so that nothing chosen earlier can have
  gone stale by the time it is written; just before the file is replaced,
  values past their ``good_until`` are chosen again;
* the lock is on the file itself, so that updates of different files never
  wait for each other: ``flock`` on the file on POSIX (the new file is
  locked before it takes the old one's place, and a run that locked a file
  which was replaced meanwhile starts again on the new one), a
  ``<file>.lock`` beside it on Windows, removed afterwards;
* a change another program makes to the file while it is being updated (an
  editor, ``dotenv.set_key``, ``echo >>``, none of which take the lock) is
  never lost: the file is compared with what was read just before it is
  replaced, and the update is redone on the new content. On Linux the
  replacement is an atomic swap (``renameat2(RENAME_EXCHANGE)``), and the
  file it displaced is checked too, so even a change made in the instant
  between that comparison and the rename is seen and redone. Elsewhere
  ``os.replace`` is used, and a change written into the old file at that
  instant is still seen afterwards, through its open descriptor; only a
  rename by another program within those microseconds could slip by;
* the new text goes to a temporary file in the target's own folder, is
  fsynced, then ``os.replace``-d over the target, and the folder is
  fsynced: a reader or a crash sees the old file or the new one, never a
  mix or an empty file; the temporary file is removed on any exception,
  ``KeyboardInterrupt`` and ``SystemExit`` included, and those of killed
  runs are removed by the next run;
* permission bits (and, where allowed, ownership) are kept; a new file is
  created 0600; a symlink is written through to its target and stays a
  symlink; a read-only file and a file with several hard links are refused;
* the result is read back from the disk and compared.

Every error is an :class:`~angel_totp.errors.EnvFileError` whose
``reason`` a program can test, and the file is left untouched.
"""

from __future__ import annotations

import errno
import functools
import os
import stat
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Union

from . import envtext
from .errors import EnvFileError

__all__ = ["EnvFile", "UpdateResult", "read_env_file", "readable_by_others",
           "check_writable", "update_env_file", "LOCK_TIMEOUT", "EnvFileError"]

LOCK_TIMEOUT = 10.0
"""Seconds to wait for another program's lock on the file before giving up."""

_TEMP_MARK = ".totp-tmp-"
_CHUNK = 1 << 20
_WINDOWS = sys.platform == "win32"
# What flock (EWOULDBLOCK) and msvcrt.locking (EACCES, EDEADLOCK) say when
# another process holds the lock.
_LOCK_BUSY = {errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES, errno.EDEADLK}
_UNTOUCHED = "the file was left untouched"

PathLike = Union[str, "os.PathLike[str]"]
Compute = Callable[[envtext.EnvText], "tuple[Mapping[str, str], float]"]


class EnvFile:
    """An env file as read: its path, text, parsed form and permission bits."""

    __slots__ = ("path", "text", "parsed", "mode")

    def __init__(self, path: str, text: str, parsed: envtext.EnvText,
                 mode: int | None) -> None:
        self.path = path        # as given
        self.text = text        # decoded, byte-order mark included, newlines as on disk
        self.parsed = parsed
        self.mode = mode        # permission bits; None where not meaningful (Windows)

    def __repr__(self) -> str:  # the text holds secrets
        return f"<EnvFile {self.path!r}: {len(self.text)} characters>"

    def values(self) -> dict[str, str | None]:
        """Every key's value as ``load_dotenv()`` loads it (``${...}`` expanded)."""
        return self.parsed.values()

    def value(self, key: str) -> str | None:
        """One key's value as ``load_dotenv()`` loads it; None when absent."""
        return self.parsed.value(key)


class UpdateResult:
    """What :func:`update_env_file` did.

    ``written``: each key set and the exact value now in the file (from the
    last call of ``compute``). ``good_until``: the ``good_until`` that
    ``compute`` returned with those values. ``replaced``: False when the
    file already held them, so nothing was written. ``path``: as given;
    ``target``: the file written (a symlink's target). ``attempts``: how
    many times the file was read (more than 1 when another program changed
    it meanwhile). ``computes``: how many times ``compute`` was called.
    """

    __slots__ = ("path", "target", "written", "good_until", "replaced", "attempts",
                 "computes")

    def __init__(self, path: str, target: str, written: dict[str, str], good_until: float,
                 replaced: bool, attempts: int, computes: int) -> None:
        self.path = path
        self.target = target
        self.written = written
        self.good_until = good_until
        self.replaced = replaced
        self.attempts = attempts
        self.computes = computes

    def __repr__(self) -> str:  # values may be secrets: keys only
        return (f"UpdateResult(path={self.path!r}, written={sorted(self.written)}, "
                f"replaced={self.replaced}, attempts={self.attempts}, "
                f"computes={self.computes})")


# -- reading ---------------------------------------------------------------

def read_env_file(path: PathLike) -> EnvFile | None:
    """Read and parse the env file at ``path``; None when it does not exist.

    Raises :class:`~angel_totp.errors.EnvFileError` with ``reason``
    ``not_a_file`` (a folder, a device, an empty path), ``permission``,
    ``not_utf8``, ``syntax`` (a statement python-dotenv cannot parse), or
    ``no_folder``/``io``.
    """
    shown = _path_text(path)
    try:
        info = os.stat(shown)
    except FileNotFoundError:
        return None
    except OSError as error:
        raise _os_error("read", shown, error) from None
    _need_regular(shown, info)
    try:
        fd = os.open(shown, os.O_RDONLY | _O_BINARY | _O_NONBLOCK | _O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as error:
        raise _os_error("read", shown, error) from None
    try:
        info = os.fstat(fd)
        _need_regular(shown, info)
        data = _read_all(fd)
    except OSError as error:
        raise _os_error("read", shown, error) from None
    finally:
        os.close(fd)
    text = _decode(shown, data)
    del data
    parsed = _parse(shown, text)
    return EnvFile(shown, text, parsed, None if _WINDOWS else stat.S_IMODE(info.st_mode))


def readable_by_others(env_file: EnvFile) -> bool:
    """Whether the file's group or others may read it (it holds secrets)."""
    return env_file.mode is not None and bool(env_file.mode & 0o044)


def _decode(shown: str, data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise EnvFileError(
            f"{shown} is not UTF-8 text (byte {error.start + 1} cannot be decoded)",
            hint=f"save it as UTF-8; {_UNTOUCHED}", path=shown, reason="not_utf8") from None


def _parse(shown: str, text: str) -> envtext.EnvText:
    try:
        return envtext.parse(text)
    except envtext.EnvSyntaxError as error:
        raise EnvFileError(
            f"{shown}: {error}",
            hint=f"python-dotenv would skip that statement; fix it ({_UNTOUCHED})",
            path=shown, reason="syntax") from None


def _read_all(fd: int) -> bytes:
    """The whole file from its start, in one buffer."""
    os.lseek(fd, 0, os.SEEK_SET)
    with open(fd, "rb", buffering=0, closefd=False) as handle:
        return handle.readall()


# -- checks ----------------------------------------------------------------

def _path_text(path: PathLike) -> str:
    try:
        shown = os.fspath(path)
    except TypeError:
        raise EnvFileError("the env file path must be text", path=str(path),
                           reason="not_a_file") from None
    if not isinstance(shown, str):
        shown = os.fsdecode(shown)
    if not shown:
        raise EnvFileError("the env file path is empty", hint="give the path of a .env file",
                           path=shown, reason="not_a_file")
    if "\0" in shown:
        raise EnvFileError("the env file path contains a NUL character",
                           hint="give the path of a .env file", path=shown,
                           reason="not_a_file")
    return shown


def _need_regular(shown: str, info: os.stat_result) -> None:
    if not stat.S_ISREG(info.st_mode):
        what = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        raise EnvFileError(f"{shown} is {what}", hint="give the path of a .env file",
                           path=shown, reason="not_a_file")


def _need_folder(shown: str, folder: str) -> None:
    try:
        info = os.stat(folder)
    except (FileNotFoundError, NotADirectoryError):
        info = None
    except OSError as error:
        raise _os_error("write", shown, error) from None
    if info is None or not stat.S_ISDIR(info.st_mode):
        raise EnvFileError(f"cannot write {shown}: folder {folder} does not exist",
                           hint="create the folder first, or give another path",
                           path=shown, reason="no_folder")


def _need_writable(shown: str, target: str, info: os.stat_result) -> None:
    """Refuse a file that must not or cannot be replaced: checked by its mode
    bits (as root too), its links, and an open for writing that truncates
    nothing (an immutable file, a read-only filesystem)."""
    _need_regular(shown, info)
    if info.st_nlink > 1:
        raise EnvFileError(
            f"{shown} has {info.st_nlink} hard links; replacing it would split them "
            "(the other names would keep the old text)",
            hint=f"keep one name for it (remove the other links), or copy it to a file "
                 f"of its own; {_UNTOUCHED}", path=shown, reason="hard_linked")
    mode = stat.S_IMODE(info.st_mode)
    if not mode & stat.S_IWUSR:
        hint = (f"make it writable if it should be updated (chmod u+w {shown}); {_UNTOUCHED}"
                if not _WINDOWS else f"clear its read-only attribute; {_UNTOUCHED}")
        raise EnvFileError(f"{shown} is read-only (mode {mode:04o})" if not _WINDOWS
                           else f"{shown} is read-only", hint=hint, path=shown,
                           reason="read_only")
    # Not os.access(): it says yes to root for everything. An open for
    # writing (nothing truncated, nothing written) gets the real answer.
    try:
        fd = os.open(target, os.O_WRONLY | _O_BINARY | _O_NONBLOCK | _O_CLOEXEC)
    except FileNotFoundError:
        return  # gone meanwhile: it will be created
    except OSError as error:
        if error.errno == errno.EROFS:
            raise EnvFileError(f"cannot write {shown}: it is on a read-only filesystem",
                               hint=f"copy it to a writable place, or remount; {_UNTOUCHED}",
                               path=shown, reason="read_only") from None
        if error.errno == errno.EPERM and not _WINDOWS:
            raise EnvFileError(f"cannot write {shown}: it cannot be opened for writing "
                               "(is it immutable?)",
                               hint=f"check its attributes (lsattr {shown}); {_UNTOUCHED}",
                               path=shown, reason="read_only") from None
        raise _os_error("write", shown, error) from None
    os.close(fd)


def _probe_folder(shown: str, folder: str, target: str) -> None:
    """Create and remove a file where the temporary file will go."""
    temp = _Temp(folder, target)
    try:
        temp.create(lock=False)
    except OSError as error:
        raise _os_error("write", shown, error, folder=folder) from None
    finally:
        temp.remove()


def check_writable(path: PathLike) -> None:
    """Check, without changing anything, that :func:`update_env_file` may
    write ``path``: a non-empty path, an existing folder in which a file can
    be created, and, if the file exists (through a symlink: its target), a
    regular file with one hard link that its permission bits, attributes
    and filesystem allow writing.

    Meant to be called before a value is chosen or anything is shown, so
    that a refusal comes first. Raises
    :class:`~angel_totp.errors.EnvFileError` with ``reason`` ``not_a_file``,
    ``no_folder``, ``read_only``, ``hard_linked``, ``permission`` or ``io``.
    """
    shown = _path_text(path)
    target = os.path.realpath(shown)
    folder = os.path.dirname(target) or "."
    _need_folder(shown, folder)
    try:
        info = os.stat(target)
    except FileNotFoundError:
        info = None
    except OSError as error:
        raise _os_error("write", shown, error) from None
    if info is not None:
        _need_writable(shown, target, info)
    _probe_folder(shown, folder, target)


# -- updating --------------------------------------------------------------

def update_env_file(path: PathLike, compute: Compute, *,
                    lock_timeout: float = LOCK_TIMEOUT, attempts: int = 3,
                    clock: Callable[[], float] = time.time) -> UpdateResult:
    """Set keys in the env file at ``path``, atomically, under its lock.

    ``compute(parsed)`` is called once the file is locked and read, with
    the file's :class:`~angel_totp.envtext.EnvText` (an empty one when the
    file does not exist yet, which is then created 0600). It returns
    ``(values, good_until)``: the keys to set and their values, and the
    ``clock()`` time after which those values must not be written any more
    (``float("inf")`` for never). Values are chosen there, not before, so
    that a code chosen while waiting for the lock cannot be stale.

    Just before the file is replaced: if ``clock() >= good_until``,
    ``compute`` is called again on the same text; and if another program
    changed the file since it was read, the whole update is redone on the
    new content, up to ``attempts`` times in all.

    Returns an :class:`UpdateResult`, which says exactly what was written.
    Raises :class:`~angel_totp.errors.EnvFileError`, the file untouched,
    with ``reason``: ``locked`` (another program held the lock for over
    ``lock_timeout`` seconds), ``changing`` (it kept changing), and those of
    :func:`check_writable` and :func:`read_env_file`; and whatever
    ``compute`` or :meth:`~angel_totp.envtext.EnvText.set_value` raise.
    """
    shown = _path_text(path)
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    target = os.path.realpath(shown)  # write through symlinks
    folder = os.path.dirname(target) or "."
    _need_folder(shown, folder)
    job = _Update(shown, target, folder, compute, clock, lock_timeout)
    try:
        return job.run(attempts)
    except EnvFileError:
        raise
    except OSError as error:
        raise _os_error("write", shown, error) from None
    finally:
        job.close()


class _Seen:
    """A file as last seen: its identity, size, time and bytes."""

    __slots__ = ("dev", "ino", "size", "mtime_ns", "data")

    def __init__(self, info: os.stat_result, data: bytes) -> None:
        self.dev, self.ino = info.st_dev, info.st_ino
        # The size of what was read: a change made while it was read shows.
        self.size, self.mtime_ns = len(data), info.st_mtime_ns
        self.data = data

    def same_file(self, info: os.stat_result) -> bool:
        return (info.st_dev, info.st_ino) == (self.dev, self.ino)

    def same_state(self, info: os.stat_result) -> bool:
        return self.same_file(info) and (info.st_size, info.st_mtime_ns) == (
            self.size, self.mtime_ns)


class _Update:
    """One call of :func:`update_env_file`; :meth:`close` releases everything."""

    def __init__(self, shown: str, target: str, folder: str, compute: Compute,
                 clock: Callable[[], float], lock_timeout: float) -> None:
        self.shown, self.target, self.folder = shown, target, folder
        self.compute_values, self.clock = compute, clock
        self.lock = _Lock(shown, target, lock_timeout)
        self.temp: _Temp | None = None
        self.computes = 0

    def close(self) -> None:
        try:
            if self.temp is not None:
                self.temp.remove()
        finally:
            self.lock.release()

    def _compute(self, parsed: envtext.EnvText) -> tuple[dict[str, str], float]:
        self.computes += 1
        values, good_until = self.compute_values(parsed)
        values = dict(values)
        for key, value in values.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise TypeError("compute() must return a mapping of str to str")
        return values, float(good_until)

    def run(self, attempts: int) -> UpdateResult:
        reads = carries = 0
        carried: tuple[bytes, _Seen] | None = None
        while True:
            if carried is None:
                if reads == attempts:
                    raise EnvFileError(
                        f"{self.shown} kept changing while it was being updated "
                        f"({attempts} attempts)",
                        hint=f"another program keeps writing it; try again when it is done "
                             f"({_UNTOUCHED})", path=self.shown, reason="changing")
                reads += 1
                base, seen = self._lock_and_read(first=reads == 1)
            else:
                base, seen = carried
                carried = None
            parsed = _parse(self.shown, _decode(self.shown, base))
            values, good_until = self._compute(parsed)
            pieces = _new_content(parsed, values, base)
            if pieces is not None:
                self.temp = _Temp(self.folder, self.target)
                self.temp.create(lock=True)
                self.temp.write(pieces, self.lock.info if seen is not None else None)
            for _ in range(5):
                if self.clock() < good_until:
                    break
                # What compute chose went stale while the file was written: again.
                values, good_until = self._compute(parsed)
                pieces = _new_content(parsed, values, base)
                if pieces is not None:
                    if self.temp is None:
                        self.temp = _Temp(self.folder, self.target)
                        self.temp.create(lock=True)
                    self.temp.write(pieces, self.lock.info if seen is not None else None)
            else:
                raise EnvFileError(
                    f"cannot write {self.shown}: the values to write kept expiring before "
                    "the file could be replaced", hint=_UNTOUCHED, path=self.shown,
                    reason="changing")
            if pieces is None:  # the file already says exactly this
                return UpdateResult(self.shown, self.target, values, good_until, False,
                                    reads, self.computes)
            assert self.temp is not None
            committed, later = _commit(self.temp, self.target, seen)
            if not committed:
                self.temp.remove()  # another program changed it: redo on its new content
                self.temp = None
                continue
            # The new file is in place, still locked by us through its descriptor.
            replaced = self.lock.swap(self.temp)
            self.temp = None
            if replaced is not None:
                if later is None and seen is not None:
                    later = _changed_after(replaced, seen)  # closes it
                else:
                    os.close(replaced)
            _fsync_folder(self.folder)
            self.lock.verify(pieces)
            if seen is not None and later is not None:
                # Another program wrote to the old file, or put its own in
                # place, during the rename itself: redo the update on that.
                if carries == attempts:
                    raise EnvFileError(
                        f"{self.shown} kept changing while it was being updated "
                        f"({attempts} attempts); the last change another program "
                        "made may be missing from it",
                        hint=f"check {self.shown}, then try again",
                        path=self.shown, reason="changing")
                carries += 1
                carried = (later, _Seen(self.lock.stat(), b"".join(pieces)))
                continue
            return UpdateResult(self.shown, self.target, values, good_until, True,
                                reads, self.computes)

    def _lock_and_read(self, first: bool) -> tuple[bytes, _Seen | None]:
        info = self.lock.acquire()
        if first:
            _remove_stale_temp_files(self.folder, self.target)
        if info is None:
            return b"", None
        _need_writable(self.shown, self.target, info)
        data = self.lock.read()
        return data, _Seen(self.lock.stat(), data)


def _new_content(parsed: envtext.EnvText, values: Mapping[str, str],
                 base: bytes) -> list[bytes | memoryview] | None:
    """The new file as pieces (slices of ``base`` and new text), or None if unchanged."""
    edited = parsed
    for key, value in values.items():
        edited = edited.set_value(key, value)
    text = parsed.source
    edits = [edit for edit in edited.edits if text[edit.start:edit.end] != edit.new]
    if not edits:
        return None
    plain = len(text) == len(base)  # UTF-8 of the same length: all ASCII
    view = memoryview(base)
    pieces: list[bytes | memoryview] = []
    char_at = byte_at = 0
    for edit in edits:
        keep = edit.start - char_at if plain else _utf8_size(text, char_at, edit.start)
        pieces.append(view[byte_at:byte_at + keep])
        byte_at += keep
        byte_at += edit.end - edit.start if plain else _utf8_size(text, edit.start, edit.end)
        pieces.append(edit.new.encode("utf-8"))
        char_at = edit.end
    pieces.append(view[byte_at:])
    return pieces


def _utf8_size(text: str, start: int, end: int) -> int:
    """``len(text[start:end].encode())`` without copying more than a chunk at a time."""
    return sum(len(text[at:min(at + _CHUNK, end)].encode("utf-8"))
               for at in range(start, end, _CHUNK))


def _commit(temp: _Temp, target: str, seen: _Seen | None) -> tuple[bool, bytes | None]:
    """Put ``temp`` in ``target``'s place if the file is still as it was read.

    Returns ``(committed, lost)``. ``committed`` is False, with nothing
    changed, when another program changed, replaced, created or removed the
    file since it was read. The comparison is the last thing before the
    rename. Where the system can swap two files atomically (Linux), the
    file displaced by the rename is checked too: if another program put its
    own version there in between, ``lost`` is that version's bytes, to redo
    the update on. Elsewhere the caller checks the old file afterwards (see
    :func:`_changed_after`), which catches a change written into it.
    """
    if seen is None:
        return temp.create_target(target), None
    if not _still(target, seen):
        return False, None
    assert temp.name is not None
    if not _rename_over(temp.name, target):
        temp.name = None  # renamed: nothing to remove any more
        return True, None
    # Swapped: the temporary name now holds what the file was an instant ago.
    fd = os.open(temp.name, os.O_RDONLY | _O_BINARY | _O_NONBLOCK | _O_CLOEXEC)
    try:
        displaced = os.fstat(fd)
        if seen.same_state(displaced):
            lost = None if _same_bytes(functools.partial(_read_at, fd), [seen.data]) \
                else _read_all(fd)
        else:
            lost = _read_all(fd)
    finally:
        os.close(fd)
    temp.remove_name()
    if lost is not None and seen.same_file(displaced) and lost == seen.data:
        lost = None
    return True, lost


def _rename_over(source: str, target: str) -> bool:
    """Rename ``source`` over ``target``. True when the two were swapped
    atomically (``source`` then names the old file), False when ``target``
    was simply replaced."""
    if _exchange(source, target):
        return True
    _replace(source, target)
    return False


def _replace(source: str, target: str) -> None:
    os.replace(source, target)


_Renameat2 = Callable[[int, bytes, int, bytes, int], int]
_renameat2: list[_Renameat2 | None] = []  # looked up once: [function] or [None]


def _exchange(source: str, target: str) -> bool:
    """Swap two names atomically with Linux's ``renameat2(RENAME_EXCHANGE)``;
    False (nothing done) where the system or filesystem cannot."""
    if not sys.platform.startswith("linux"):
        return False
    if not _renameat2:
        _renameat2.append(_load_renameat2())
    function = _renameat2[0]
    if function is None:
        return False
    at_cwd, rename_exchange = -100, 2
    # Any failure (an old kernel, a filesystem without it, a sandbox): the
    # plain rename then runs, and reports a real error if there is one.
    return function(at_cwd, os.fsencode(source), at_cwd, os.fsencode(target),
                    rename_exchange) == 0


def _load_renameat2() -> _Renameat2 | None:
    try:
        import ctypes
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (ImportError, OSError, AttributeError):
        return None  # no glibc 2.28+ or musl 1.2.? here
    function.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                         ctypes.c_uint)
    function.restype = ctypes.c_int
    return function


def _still(target: str, seen: _Seen) -> bool:
    """Whether ``target`` is the file ``seen`` and holds the same bytes."""
    try:
        fd = os.open(target, os.O_RDONLY | _O_BINARY | _O_NONBLOCK | _O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        before = os.fstat(fd)
        if not seen.same_file(before) or before.st_size != seen.size:
            return False
        if not _same_bytes(lambda offset, size: _read_at(fd, offset, size), [seen.data]):
            return False
        after = os.stat(target)  # replaced while it was compared?
        return seen.same_file(after) and after.st_size == seen.size \
            and after.st_mtime_ns == before.st_mtime_ns
    finally:
        os.close(fd)


def _changed_after(fd: int, seen: _Seen) -> bytes | None:
    """The old file's bytes if it changed after it was last compared, else None."""
    try:
        info = os.fstat(fd)
        if seen.same_state(info):
            return None
        data = _read_all(fd)
    finally:
        os.close(fd)
    return None if data == seen.data else data


def _read_at(fd: int, offset: int, size: int) -> bytes:
    if sys.platform != "win32":
        return os.pread(fd, size, offset)
    os.lseek(fd, offset, os.SEEK_SET)
    return os.read(fd, size)


def _same_bytes(read_at: Callable[[int, int], bytes],
                pieces: Iterable[bytes | bytearray | memoryview]) -> bool:
    """Whether the file read by ``read_at`` holds exactly the concatenated pieces."""
    offset = 0
    for piece in pieces:
        view = memoryview(piece)
        for start in range(0, len(view), _CHUNK):
            part = view[start:start + _CHUNK]
            got = b""
            while len(got) < len(part):
                more = read_at(offset + len(got), len(part) - len(got))
                if not more:
                    return False
                got += more
            if got != part:
                return False
            offset += len(part)
    return read_at(offset, 1) == b""


class _Temp:
    """A temporary file beside the target: created, locked, written, then
    renamed into place or removed. Its name is known before it exists, so
    that an interrupt at any point leaves nothing behind."""

    def __init__(self, folder: str, target: str) -> None:
        self.folder, self.target = folder, target
        self.name: str | None = None
        self.fd: int | None = None

    def create(self, lock: bool) -> None:
        prefix = os.path.join(self.folder, _temp_prefix(self.target))
        for _ in range(100):
            self.name = prefix + os.urandom(6).hex()
            try:
                # 0600: the right mode for a new env file; an old file's mode
                # is copied in write().
                self.fd = os.open(self.name, os.O_RDWR | os.O_CREAT | os.O_EXCL | _O_BINARY
                                  | _O_CLOEXEC | _O_NOFOLLOW, 0o600)
            except FileExistsError:
                self.name = None
                continue
            except BaseException as error:
                if isinstance(error, OSError):
                    self.name = None  # not created
                raise
            if not lock or _WINDOWS:
                return
            # Locked, so that another run's clean-up of stale temporary files
            # leaves it alone; if one removed it just before, make another.
            if _try_flock(self.fd) and _same_inode(self.name, self.fd):
                return
            os.close(self.fd)
            self.fd = None
        raise OSError(errno.EEXIST, "cannot create a temporary file")

    def write(self, pieces: list[bytes | memoryview], like: os.stat_result | None) -> None:
        if self.fd is None:  # Windows, written once already
            assert self.name is not None
            self.fd = os.open(self.name, os.O_RDWR | _O_BINARY)
        fd = self.fd
        os.lseek(fd, 0, os.SEEK_SET)
        os.ftruncate(fd, 0)
        for piece in pieces:
            view = memoryview(piece)
            while view:
                done = os.write(fd, view)
                view = view[done:]
        if like is not None:
            _copy_mode_and_owner(fd, like)
        os.fsync(fd)
        if _WINDOWS:  # Windows cannot rename an open file
            self.fd = None
            os.close(fd)

    def create_target(self, target: str) -> bool:
        """Put the file at ``target`` where there is none; False if one appeared."""
        assert self.name is not None
        try:
            os.link(self.name, target)
        except FileExistsError:
            return False
        except (OSError, NotImplementedError, AttributeError):
            # No hard links here (FAT, some network filesystems): replace, if
            # the file is still absent.
            if os.path.lexists(target):
                return False
            _replace(self.name, target)
            self.name = None
            return True
        try:
            os.unlink(self.name)
        except FileNotFoundError:
            pass
        self.name = None
        return True

    def remove_name(self) -> None:
        """Remove the temporary name only (it may name the displaced old file)."""
        name = self.name
        if name is not None:
            try:
                os.unlink(name)
            except FileNotFoundError:
                pass
            self.name = None

    def remove(self) -> None:
        """Close and remove the temporary file; never raises for a missing one."""
        name, fd = self.name, self.fd
        self.name = self.fd = None
        try:
            if fd is not None:
                os.close(fd)
        finally:
            if name is not None:
                try:
                    os.unlink(name)
                except OSError:
                    pass  # already gone; any other error must not hide the first one


def _fsync_folder(folder: str) -> None:
    # Makes the rename durable; POSIX only (Windows cannot open folders).
    if _WINDOWS:
        return
    # After the swap nothing may fail the write: it has happened.
    try:
        fd = os.open(folder, os.O_RDONLY | _O_CLOEXEC)
    except OSError:
        return  # a folder we may write but not open (mode 0333)
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
    """Remove temporary files that killed runs (SIGKILL, power loss) left.

    A live run holds a lock on its temporary file (on Windows, has it open,
    which forbids removing it), so only abandoned ones go.
    """
    prefix = _temp_prefix(target)
    try:
        names = [entry.name for entry in os.scandir(folder) if entry.name.startswith(prefix)]
    except OSError:
        return
    for name in names:
        path = os.path.join(folder, name)
        if _WINDOWS:
            try:
                os.unlink(path)
            except OSError:
                pass
            continue
        try:
            fd = os.open(path, os.O_RDONLY | _O_NOFOLLOW | _O_NONBLOCK | _O_CLOEXEC)
        except OSError:
            continue
        try:
            if _try_flock(fd) and _same_inode(path, fd):
                os.unlink(path)
        except OSError:
            pass
        finally:
            os.close(fd)


# -- locking ---------------------------------------------------------------

def _same_inode(path: str, fd: int) -> bool:
    try:
        named = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino)


class _Lock:
    """The lock on one env file.

    POSIX: ``flock`` on the file itself, through a descriptor that also
    serves to read it. The file is replaced by a new inode at every update,
    so after the lock is taken, the path must still name the locked inode;
    if not, start again on the new one. The new file is locked by its
    writer before it takes the old one's place (:meth:`swap`), so no other
    run can slip in between.

    Windows: ``msvcrt.locking`` on ``<file>.lock`` beside the file (Windows
    cannot rename over an open, locked file), removed afterwards.
    """

    def __init__(self, shown: str, target: str, timeout: float) -> None:
        self.shown, self.target, self.timeout = shown, target, timeout
        self.fd: int | None = None
        self.info: os.stat_result | None = None
        self.sidecar: int | None = None

    def acquire(self) -> os.stat_result | None:
        """Lock the file; its stat, or None when it does not exist (no lock needed:
        creating it fails if another program creates it first)."""
        self.release_file()
        deadline = time.monotonic() + self.timeout
        if _WINDOWS:
            if self.sidecar is None:
                self.sidecar = _lock_sidecar(self.target + ".lock", deadline, self._locked)
            try:
                self.info = os.stat(self.target)
            except FileNotFoundError:
                self.info = None
            return self.info
        while True:
            try:
                fd = os.open(self.target, os.O_RDONLY | _O_NONBLOCK | _O_CLOEXEC)
            except FileNotFoundError:
                self.info = None
                return None
            try:
                info = os.fstat(fd)
                _need_regular(self.shown, info)
                _wait_for(functools.partial(_try_flock, fd), deadline, self._locked)
                if _same_inode(self.target, fd):
                    self.fd, self.info = fd, os.fstat(fd)
                    fd = -1
                    return self.info
            finally:
                if fd >= 0:
                    os.close(fd)
            # Replaced while we waited: lock the new file.

    def _locked(self) -> EnvFileError:
        return EnvFileError(
            f"{self.shown} is locked by another program for over {self.timeout:g} s",
            hint=f"wait for the other update of {self.shown} to finish, then try again "
                 f"({_UNTOUCHED})", path=self.shown, reason="locked")

    def read(self) -> bytes:
        if self.fd is not None:
            return _read_all(self.fd)
        with open(self.target, "rb") as handle:  # Windows
            return handle.read()

    def stat(self) -> os.stat_result:
        info = os.fstat(self.fd) if self.fd is not None else os.stat(self.target)
        self.info = info
        return info

    def verify(self, pieces: list[bytes | memoryview]) -> None:
        """Read the new file back from the disk; it must hold exactly ``pieces``."""
        if self.fd is not None:
            fd = self.fd
            ok = _same_bytes(lambda offset, size: _read_at(fd, offset, size), pieces)
        else:  # Windows: read it by its name
            with open(self.target, "rb") as handle:
                def read_at(offset: int, size: int) -> bytes:
                    handle.seek(offset)
                    return handle.read(size)
                ok = _same_bytes(read_at, pieces)
        if not ok:
            raise EnvFileError(f"{self.shown} did not read back as written",
                               hint="another program may be writing it at the same time, "
                                    "or the disk is failing", path=self.shown, reason="io")

    def swap(self, temp: _Temp) -> int | None:
        """The new file is in place: hold its lock now. Returns the descriptor
        of the replaced file (the caller closes it), if any."""
        old = self.fd
        self.fd = temp.fd
        temp.fd = None
        return old

    def release_file(self) -> None:
        if self.fd is not None:
            fd, self.fd = self.fd, None
            os.close(fd)  # closing releases the flock

    def release(self) -> None:
        try:
            self.release_file()
        finally:
            if self.sidecar is not None:
                fd, self.sidecar = self.sidecar, None
                _unlock_sidecar(fd, self.target + ".lock")


def _wait_for(try_lock: Callable[[], bool], deadline: float,
              locked: Callable[[], EnvFileError]) -> None:
    pause = 0.005
    while not try_lock():
        if time.monotonic() >= deadline:
            raise locked()
        time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
        pause = min(pause * 2, 0.05)


if sys.platform == "win32":  # pragma: no cover - Windows
    import msvcrt

    def _try_flock(fd: int) -> bool:
        raise NotImplementedError("Windows locks a lock file beside the file")

    def _copy_mode_and_owner(fd: int, like: os.stat_result) -> None:
        pass  # the read-only attribute, the only mode bit there, was checked

    def _lock_sidecar(lock_path: str, deadline: float,
                      locked: Callable[[], EnvFileError]) -> int:
        while True:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | _O_BINARY, 0o600)
            try:
                def attempt(fd: int = fd) -> bool:
                    try:
                        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
                    except OSError as error:
                        if error.errno in _LOCK_BUSY:
                            return False
                        raise
                    return True
                _wait_for(attempt, deadline, locked)
                try:
                    named: os.stat_result | None = os.stat(lock_path)
                except FileNotFoundError:
                    named = None
                held = os.fstat(fd)
                if named is not None and (named.st_dev, named.st_ino) == (held.st_dev,
                                                                          held.st_ino):
                    result, fd = fd, -1
                    return result
                # Removed by its last holder while we waited: lock a fresh one.
                msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
            finally:
                if fd >= 0:
                    os.close(fd)

    def _unlock_sidecar(fd: int, lock_path: str) -> None:
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        finally:
            os.close(fd)
            try:
                os.unlink(lock_path)  # fails harmlessly while another run has it open
            except OSError:
                pass
else:
    import fcntl

    def _try_flock(fd: int) -> bool:
        """Take the exclusive lock if it is free; False if another holds it."""
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno in _LOCK_BUSY:
                return False
            raise
        return True

    def _copy_mode_and_owner(fd: int, like: os.stat_result) -> None:
        os.fchmod(fd, stat.S_IMODE(like.st_mode))
        if (like.st_uid, like.st_gid) != (os.getuid(), os.getgid()):
            try:
                os.fchown(fd, like.st_uid, like.st_gid)
            except OSError:
                pass  # not allowed unless root; the mode is what matters

    def _lock_sidecar(lock_path: str, deadline: float,
                      locked: Callable[[], EnvFileError]) -> int:
        raise NotImplementedError("POSIX locks the file itself")

    def _unlock_sidecar(fd: int, lock_path: str) -> None:
        raise NotImplementedError("POSIX locks the file itself")


# -- errors ----------------------------------------------------------------

_O_BINARY = getattr(os, "O_BINARY", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
# Opening a FIFO without it would hang; harmless for regular files.
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)


def _os_error(action: str, shown: str, error: OSError, folder: str | None = None
              ) -> EnvFileError:
    code = error.errno
    text = (error.strerror or error.__class__.__name__).lower()
    where = f"{shown}" if folder is None else f"{shown} (in its folder {folder})"
    message = f"cannot {action} {where}: {text}"
    if code in (errno.EACCES, errno.EPERM):
        return EnvFileError(message, hint=f"check the permissions of {shown} and its "
                                          f"folder; {_UNTOUCHED}",
                            path=shown, reason="permission")
    if code == errno.EROFS:
        return EnvFileError(message, hint=f"the filesystem is mounted read-only; "
                                          f"{_UNTOUCHED}", path=shown, reason="read_only")
    if code == errno.ENOTDIR:
        return EnvFileError(message, hint="check the folders in the path", path=shown,
                            reason="no_folder")
    if code == errno.EISDIR:
        return EnvFileError(message, hint="give the path of a .env file", path=shown,
                            reason="not_a_file")
    if code == errno.ENOENT:
        return EnvFileError(message, hint="check the path", path=shown, reason="missing")
    if code in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return EnvFileError(message, hint=f"free some space on that disk; {_UNTOUCHED}",
                            path=shown, reason="io")
    return EnvFileError(message, hint=_UNTOUCHED, path=shown, reason="io")

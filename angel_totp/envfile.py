"""Reading an env file as the installed python-dotenv reads it; setting keys in it by
changing only their values, atomically, under its lock (on Linux a ``renameat2`` exchange,
so that a change made during the swap is found in the displaced file and redone)."""

from __future__ import annotations

import contextlib
import errno
import functools
import io
import os
import re
import stat
import sys
import time
from collections import ChainMap
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, NamedTuple, Union

from . import safefile
from .checks import check_path
from .errors import EnvFileError, InvalidInputError
from .hidden import Hidden
from .safefile import O_BINARY, O_CLOEXEC, O_NOFOLLOW, READ, WINDOWS, read_start
from .safefile import try_lock as _try_flock  # a module global: tests replace it
from .settings import blank

if TYPE_CHECKING:
    from dotenv.parser import Binding

LOCK_TIMEOUT = 10.0  # seconds to wait for another program's lock on the file
MAX_SIZE = 1 << 20
MAX_EXPANDED = 4 * MAX_SIZE  # characters of values once ${VAR} is expanded
MAX_LINES = 20_000  # python-dotenv reads about 50,000 short lines a second
_MAX_REGEX_STEPS = 50_000_000  # about 0.1 s of dotenv's quadratic patterns

_UNTOUCHED = "the file was left untouched"
_TEMP_MARK = ".totp-tmp-"

PathLike = Union[str, "os.PathLike[str]"]
Compute = Callable[["EnvFile"], "tuple[Mapping[str, str], float]"]


@functools.cache
def _dotenv(name: str):  # type: ignore[no-untyped-def]
    """python-dotenv's module ``name``, loaded without the package's ``__init__``
    (25 ms of start-up) unless a bot already imported it."""
    if "dotenv." + name in sys.modules:
        return sys.modules["dotenv." + name]
    import importlib
    import importlib.util
    try:
        folder = importlib.util.find_spec("dotenv").submodule_search_locations[0]  # type: ignore
        spec = importlib.util.spec_from_file_location(
            "angel_totp._dotenv_" + name, os.path.join(folder, name + ".py"))
        module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        spec.loader.exec_module(module)  # type: ignore[union-attr]
        return module
    except Exception:  # a dotenv whose module needs its package: load it whole
        return importlib.import_module("dotenv." + name)


class EnvFile:
    """An env file as python-dotenv reads it. Its repr shows no value."""

    __slots__ = ("path", "mode", "_text", "_bindings")

    def __init__(self, path: str, mode: int | None, text: str,
                 bindings: list[Binding]) -> None:
        self.path = path      # as given
        self.mode = mode      # permission bits; None on Windows or for a new file
        self._text = text     # as on disk (newlines, byte-order mark)
        self._bindings = bindings  # dotenv's, of the text with universal newlines

    def __repr__(self) -> str:
        return f"<EnvFile {self.path!r}: {len(self._bindings)} statements>"

    def values(self, environ: Mapping[str, str] | None = None) -> dict[str, str | None]:
        """Every key's value as ``load_dotenv()`` loads it, ``${VAR}`` expanded from
        ``environ`` (default ``os.environ``), then the file; EnvFileError past 4 MiB."""
        try:
            loaded = _expanded(self._bindings, os.environ if environ is None else environ)
        except BaseException as error:  # Ctrl-C: the frames below hold the values
            raise error.with_traceback(None) from None
        if loaded is None:  # raised here, where no frame holds a value
            raise _refused(self.path, "too_large", f"{self.path} expands ${{VAR}} to over "
                           f"{MAX_EXPANDED >> 20} MiB of values; not an env file?",
                           "give the path of a .env file")
        return loaded

    def has_nonempty(self, key: str) -> bool:
        """Whether ``key`` has a value other than empty or spaces (a fresh copy
        of an example file has ``TOTP_SECRET=``: that counts as none)."""
        found = self.values().get(key)
        return found is not None and not blank(found)


def _expanded(bindings: list[Binding],
              environ: Mapping[str, str]) -> dict[str, str | None] | None:
    # None past MAX_EXPANDED: each line can double the one before.
    variables = _dotenv("variables")
    loaded: dict[str, str | None] = {}
    lookup = ChainMap(environ, loaded)  # type: ignore[arg-type]
    size = 0
    for binding in bindings:
        value = binding.value
        if value is not None and "${" in value:
            parts = [atom.resolve(lookup) for atom in variables.parse_variables(value)]
            if size + sum(map(len, parts)) > MAX_EXPANDED:
                return None
            value = "".join(parts)
        size += len(value or "")
        if binding.key is not None:
            loaded[binding.key] = value
    return loaded


def read_env_file(path: PathLike) -> EnvFile | None:
    """Read and parse the env file at ``path``; None when it does not exist.
    Raises :class:`~angel_totp.errors.EnvFileError` (the reasons it lists)."""
    shown = _path_text(path)
    try:
        fd = os.open(shown, READ)
        try:
            found = _read_bounded(shown, fd)
        finally:
            os.close(fd)
    except FileNotFoundError:
        return None
    except EnvFileError:
        raise
    except OSError as error:
        raise _os_error("read", shown, error) from None
    mode = None if WINDOWS else stat.S_IMODE(found.info.st_mode)  # type: ignore[union-attr]
    return _parsed(shown, found, mode)


def readable_by_others(env_file: EnvFile) -> bool:
    """Whether the file's group or others may read it (it holds secrets)."""
    return env_file.mode is not None and bool(env_file.mode & 0o044)


def _read_bounded(shown: str, fd: int) -> _Seen:
    info = os.fstat(fd)
    _need_regular(shown, info)
    if info.st_size <= MAX_SIZE:
        found = _Seen(info, read_start(fd, MAX_SIZE))
        if len(found.data) <= MAX_SIZE:
            return found
    raise _refused(shown, "too_large", f"{shown} is larger than {MAX_SIZE >> 20} MiB; not an "
                   "env file?", "give the path of a .env file")


def _parsed(shown: str, found: _Seen, mode: int | None) -> EnvFile:
    # Raises where no local holds the file's text (error trackers record locals).
    try:
        result = _parse_checked(found.data.decode("utf-8"))
    except UnicodeDecodeError as error:
        result = "not_utf8", f"is not UTF-8 text (byte {error.start + 1} cannot be decoded)"
    except BaseException as error:  # Ctrl-C: the frames below (dotenv's too) hold the text
        raise error.with_traceback(None) from None
    if isinstance(result, EnvFile):
        result.path, result.mode = shown, mode
        return result
    reason, message = result
    raise _refused(shown, reason, f"{shown} {message}", {
        "syntax": "python-dotenv would skip that statement; fix it",
        "not_utf8": "save it as UTF-8"}.get(reason, "python-dotenv would take seconds to read it"))


def _parse_checked(text: str) -> EnvFile | tuple[str, str]:
    # Why not, rather than raising, so that the raising frame holds no text.
    if text.count("\n") + text.count("\r") - text.count("\r\n") > MAX_LINES:
        return "too_large", f"has over {MAX_LINES:,} lines"
    if _regex_steps(text) > _MAX_REGEX_STEPS:
        return "too_large", "has long runs of spaces or unclosed ${ that python-dotenv " \
                            "reads in quadratic time"
    bindings, error_line = _parse(text)
    if error_line:
        return "syntax", f"line {error_line} cannot be parsed (python-dotenv skips it)"
    return EnvFile("", None, text, bindings)


def _regex_steps(text: str) -> int:
    # A bound of the steps dotenv's quadratic patterns take: ``\s+#`` on each run of
    # spaces in a value, ``${`` up to its ``}``.
    steps = sum(len(run) ** 2 for run in re.findall(r"[^\S\r\n]{32,}", text))
    close = len(text)
    for match in reversed(list(re.finditer(r"\$\{|\}", text))):
        if match.group() == "}":
            close = match.start()
        else:
            steps += close - match.start()
    return steps


def _parse(text: str) -> tuple[list[Binding], int]:
    # dotenv's bindings up to the first it cannot parse, and that one's line (0: none).
    # Stopping there keeps it linear: dotenv rescans the file for each unclosed quote.
    bindings: list[Binding] = []
    for binding in _dotenv("parser").parse_stream(io.StringIO(text, newline=None)):
        if binding.error:
            return bindings, binding.original.line
        bindings.append(binding)
    return bindings, 0


_HEAD = re.compile(r"\s*(?:export[^\S\r\n]+)?(?:'[^']+'|[^=#\s]+)()(?:[^\S\r\n]*=[^\S\r\n]*())?")
_PLAIN = re.compile(r"[\w.,:/@+-]*")  # nothing a shell reading the file would trip on


def can_store(value: str, key: str = "TOTP_SECRET") -> bool:
    """Whether ``value`` can be written so that the installed python-dotenv reads
    it back exactly (not expanded as ``${VAR}``, not cut at a comment...)."""
    return next(_tokens(key, value, "", "\n", ""), None) is not None


def _tokens(key: str, value: str, head: str, tail: str, style: str) -> Iterator[str]:
    """Tokens dotenv reads back as ``value`` in ``head + token + tail``, ``style`` first."""
    variables = _dotenv("variables")
    if any(isinstance(atom, variables.Variable) for atom in variables.parse_variables(value)):
        return
    single = "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    double = '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace(
        "\n", "\\n").replace("\r", "\\r") + '"'
    order = {"'": [single, double, value], '"': [double, single, value]}.get(
        style, [value, single, double] if _PLAIN.fullmatch(value) else [single, double, value])
    for token in order:
        statement = (head or key + "=") + token + tail
        bindings, error_line = _parse(statement)
        if not error_line and [(b.key, b.value) for b in bindings] == [(key, value)]:
            yield token


def _new_text(text: str, current: EnvFile, values: Mapping[str, Hidden]) -> Hidden | None:
    """``text`` with ``values`` set, or None when it already holds them; ValueError
    (with no text in it) when dotenv would not read every value back as expected."""
    translated = text.replace("\r\n", "\n").replace("\r", "\n")
    # Where the first statement starts: 1.2.4 drops a byte-order mark.
    at = len(translated) - sum(len(binding.original.string) for binding in current._bindings)
    crlf = [match.start() - count for count, match in enumerate(re.finditer("\r\n", text))]

    def on_disk(offset: int) -> int:  # translated offset -> offset in text
        from bisect import bisect_left
        return offset + bisect_left(crlf, offset)

    edits: list[tuple[int, int, str]] = []
    expected: list[tuple[str, str | None]] = []
    last = ""  # the last statement, as rewritten
    for binding in current._bindings:
        start, at = at, at + len(binding.original.string)
        last = binding.original.string
        new_value = values.get(binding.key or "")
        if new_value is not None:
            begin, end, token = _edit(binding, new_value.reveal())
            edits.append((on_disk(start + begin), on_disk(start + end), token))
            last = last[:begin] + token + last[end:]
        if binding.key is not None:
            expected.append((binding.key, binding.value if new_value is None
                             else new_value.reveal()))
    first_end = re.search(r"\r\n|\n|\r", text)
    newline = first_end.group() if first_end else "\n"  # the file's own line ending
    appended = ""
    present = {binding.key for binding in current._bindings}
    added = [(key, values[key].reveal()) for key in values if key not in present]
    expected += added
    for key, value in added:
        stored = next(_tokens(key, value, "", "\n", ""), None)
        if stored is None:
            raise ValueError(f"the value for {key} cannot be written so that python-dotenv "
                             "reads it back exactly")
        appended += f"{key}={stored}{newline}"
    if appended and text and not text.endswith(("\n", "\r")):
        appended = newline + appended[:-len(newline)]  # no final newline: none added
    pieces, done = [], 0
    for start, end, token in edits:
        pieces += [text[done:start], token]
        done = end
    new = "".join(pieces) + text[done:] + appended
    if new == text:
        return None
    # _edit checked each changed statement alone: dotenv reads nothing past a statement's
    # line ending, except that dotenv < 1.2.3 backtracks to a quote escaped by a backslash.
    # Only then is the whole file parsed again; an append is checked with the last statement.
    if not any(value.endswith("\\") for _, value in expected if value is not None):
        if not appended:
            return Hidden(new)
        kept = 1 if current._bindings and current._bindings[-1].key is not None else 0
        if _read_back(last + appended.replace("\r\n", "\n").replace("\r", "\n")) \
                == expected[len(expected) - len(added) - kept:]:
            return Hidden(new)
    if _read_back(new) != expected:
        raise ValueError("the new values cannot be written so that python-dotenv reads "
                         "every value back as it was")
    return Hidden(new)


def _read_back(text: str) -> list[tuple[str, str | None]] | None:
    bindings, error_line = _parse(text)
    return None if error_line else [(b.key, b.value) for b in bindings if b.key is not None]


def _edit(binding: Binding, value: str) -> tuple[int, int, str]:
    # Where the value token of binding's statement is, and the token to put there.
    statement = binding.original.string
    head = _HEAD.match(statement)
    assert head is not None and binding.key is not None
    if head.group(2) is None:  # "KEY" alone: it gains "=value"
        start = end = head.end(1)
        prefix = "="
    else:
        start, prefix = head.end(2), ""
        rest = statement[start:]
        # "KEY= # note": 1.2.4 reads "", older ones "# note"; either way the note stays.
        noted = rest.startswith("#") and statement[start - 1] in " \t"
        end = start + (0 if noted else _token_length(rest, binding.value or ""))
    tail = statement[end:]
    quote = statement[start:start + 1] if end > start else ""
    space = " " if tail.startswith("#") and quote not in ("'", '"') else ""
    for token in _tokens(binding.key, value, statement[:start] + prefix, space + tail, quote):
        return start, end, prefix + token + space
    raise ValueError(f"the value for {binding.key} cannot be written so that python-dotenv "
                     "reads it back exactly")


def _token_length(rest: str, value: str) -> int:
    if rest[:1] in ("'", '"'):
        parser = _dotenv("parser")
        try:  # where the installed dotenv's own pattern closes the quote
            reader = parser.Reader(io.StringIO(rest, newline=""))
            parser.parse_value(reader)
            return int(reader.position.chars)
        except Exception:  # a future dotenv's internals: the whole rest of the line
            return len(re.match(r"[^\r\n]*", rest).group())  # type: ignore[union-attr]
    return len(value)  # an unquoted value is the start of the rest, less comment and spaces


def check_writable(path: PathLike) -> str:
    """Check, changing nothing, what :func:`update_env_file` needs before a value is
    chosen; the file it would write (the end of the path's links). Raises
    :class:`~angel_totp.errors.EnvFileError`."""
    shown = _path_text(path)
    target = _resolve(shown)
    _check_folder(shown, os.path.dirname(target))
    try:
        info = os.stat(target, follow_symlinks=False)
    except FileNotFoundError:
        return target
    except OSError as error:
        raise _os_error("write", shown, error) from None
    _check_file(shown, target, info)
    return target


def _path_text(path: PathLike) -> str:
    try:
        return check_path(path, "env_file")
    except InvalidInputError as error:
        raise EnvFileError(error.message, hint="give the path of a .env file", path=str(path),
                           reason="not_a_file") from None


def _need_regular(shown: str, info: os.stat_result) -> None:
    safefile.check_regular(info, shown, functools.partial(_refused, shown),
                           "give the path of a .env file")


def _resolve(shown: str) -> str:
    """The absolute end of ``shown``'s chain of symlinks; a link the kernel would
    refuse to follow (``fs.protected_symlinks``) is refused."""
    path = shown
    try:
        ancestor = os.path.dirname(os.path.abspath(shown))
        while ancestor != os.path.dirname(ancestor):  # the folders on the way, too
            _check_link(shown, ancestor, os.lstat(ancestor))
            ancestor = os.path.dirname(ancestor)
        for _ in range(40):
            info = os.lstat(path)
            if not stat.S_ISLNK(info.st_mode):
                break
            _check_link(shown, path, info)
            path = os.path.join(os.path.dirname(path) or ".", os.readlink(path))
        else:
            raise OSError(errno.ELOOP, "too many levels of symbolic links")
    except FileNotFoundError:
        pass  # nothing there (yet): it is created at the end of the chain
    except EnvFileError:
        raise
    except OSError as error:
        raise _os_error("write", shown, error) from None
    folder = safefile.absolute(os.path.dirname(path) or ".", f"cannot write {shown}",
                               functools.partial(_refused, shown))
    return os.path.join(os.path.realpath(folder), os.path.basename(path))


def _check_link(shown: str, path: str, info: os.stat_result) -> None:
    """Refuse a link at ``path`` that the kernel would not follow (fs.protected_symlinks)."""
    if not stat.S_ISLNK(info.st_mode):
        return
    where = os.stat(os.path.dirname(path) or ".")
    if (where.st_mode & stat.S_ISVTX and where.st_mode & stat.S_IWOTH
            and info.st_uid not in (os.geteuid(), where.st_uid)):
        what = "is a symbolic link" if path == shown else f"goes through {path}, a link"
        raise _refused(shown, "permission", f"{shown} {what} that another user owns, in a "
                       "folder everyone may write; it is not followed",
                       "remove the link, or give the path of the file itself")


def _check_folder(shown: str, folder: str) -> None:
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
    if hasattr(os, "statvfs") and os.statvfs(folder).f_flag & os.ST_RDONLY:
        raise _os_error("write", shown, OSError(errno.EROFS, "read-only file system"))
    if not os.access(folder, os.W_OK | os.X_OK):
        raise _os_error("write", shown, PermissionError(errno.EACCES, "permission denied"),
                        folder=folder)
    safefile.check_replaceable(folder, f"the folder {folder} of {shown}",
                               functools.partial(_refused, shown), folder=True)


def _check_file(shown: str, target: str, info: os.stat_result) -> None:
    _need_regular(shown, info)
    safefile.check_one_name(info, shown, functools.partial(_refused, shown))
    mode = stat.S_IMODE(info.st_mode)
    if not os.access(target, os.R_OK):  # what it holds must be read to be kept
        raise _os_error("read", shown, PermissionError(errno.EACCES, os.strerror(errno.EACCES)))
    if not mode & stat.S_IWUSR:
        raise _refused(shown, "read_only", f"{shown} is read-only (mode {mode:04o})",
                       "make it writable if it should be updated (chmod u+w)")
    safefile.check_replaceable(target, shown, functools.partial(_refused, shown))
    if not WINDOWS and os.geteuid() != 0:
        if info.st_uid != os.geteuid():
            raise _refused(shown, "permission", f"{shown} belongs to another user; a new "
                           "copy would belong to you", "let its owner update it, or copy it "
                           "to a file of your own")
        if info.st_gid not in (os.getegid(), *os.getgroups()):
            raise _refused(shown, "permission", f"{shown} belongs to group {info.st_gid}, "
                           "which you are not in; a new copy could not keep that group",
                           "chgrp it to one of your groups, or update it as a member of "
                           "that group")
    try:  # the real answer to "may I write it?", also as root: nothing is truncated
        os.close(os.open(target, os.O_WRONLY | O_BINARY | safefile.O_NONBLOCK | O_CLOEXEC
                         | O_NOFOLLOW))
    except FileNotFoundError:
        pass  # gone meanwhile: it will be created
    except OSError as error:
        raise _os_error("write", shown, error) from None


class UpdateResult(NamedTuple):
    """What :func:`update_env_file` did; ``replaced`` is False when the file already
    held ``written``; ``attempts`` counts reads of the file, ``computes`` calls."""

    path: str
    target: str
    written: dict[str, Hidden]
    good_until: float
    replaced: bool
    attempts: int
    computes: int


def update_env_file(path: PathLike, compute: Compute, *, lock_timeout: float = LOCK_TIMEOUT,
                    attempts: int = 3, clock: Callable[[], float] = time.time) -> UpdateResult:
    """Set keys in the env file at ``path``, atomically, under its lock.

    ``compute(current)`` gets the locked file as an :class:`EnvFile` (empty if there is
    none yet: it is created 0600) and returns ``(values, good_until)``: the keys to set,
    and the ``clock()`` time from which they must not be written. Past it, ``compute``
    runs again; if another program changed the file meanwhile, the update is redone on
    it, ``attempts`` times at most. An exception from ``compute`` propagates. Raises
    :class:`~angel_totp.errors.EnvFileError` as :func:`check_writable` and
    :func:`read_env_file` do, and with ``reason`` ``locked`` or ``changing``.
    """
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    shown = _path_text(path)
    target = check_writable(shown)
    job = _Update(shown, target, compute, clock, lock_timeout)
    try:
        return job.run(attempts)
    except (EnvFileError, OSError) as error:
        if not (job.replaced or (job.temp is not None and job.temp.placed)):
            if isinstance(error, EnvFileError):
                raise
            raise _os_error("write", shown, error) from None
        # The new file took the old one's place: whatever failed after, never "untouched".
        if isinstance(error, EnvFileError):
            message, reason = error.message, error.reason
            hint = next_step(error)
        else:
            message, reason = f"{shown} was written, but checking it afterwards failed: " \
                              f"{safefile.strerror(error)}", "io"
            hint = "check the disk, then run again"
        raise EnvFileError(message, hint=hint or None, path=shown, reason=reason) from None
    finally:
        job.close()


class _Seen:
    """A file as read: its identity and bytes (a class, not a tuple, so that error
    trackers, which walk tuples, never show the bytes)."""

    __slots__ = ("info", "data")

    def __init__(self, info: os.stat_result | None, data: bytes) -> None:
        self.info, self.data = info, data

    def same_file(self, info: os.stat_result) -> bool:
        return self.info is not None and os.path.samestat(info, self.info)


class _Update:
    """One call of :func:`update_env_file`. Its lock is a ``flock`` on the env file
    itself (POSIX): the new file is locked before it takes the old one's place, and a
    run that locked a file replaced meanwhile starts again on the new one. Windows: a
    ``<file>.lock`` beside it."""

    def __init__(self, shown: str, target: str, compute: Compute,
                 clock: Callable[[], float], timeout: float) -> None:
        self.shown, self.target, self.compute, self.clock = shown, target, compute, clock
        self.folder, self.timeout = os.path.dirname(target), timeout
        self.fd: int | None = None       # POSIX: the locked file, open for reading
        self.sidecar: int | None = None  # Windows: the locked <file>.lock
        self.temp: _Temp | None = None
        self.computes = 0
        self.replaced = False  # once, errors must not say the file was left untouched

    def close(self) -> None:
        try:
            if self.temp is not None:
                self.temp.remove()
        finally:
            try:
                self.release_file()
            finally:
                fd, self.sidecar = self.sidecar, None
                if fd is not None:
                    os.close(fd)  # releases msvcrt's lock (removing fails while another has it)
                    safefile.remove_quietly(self.target + ".lock")

    def release_file(self) -> None:
        fd, self.fd = self.fd, None
        if fd is not None:
            os.close(fd)  # closing releases the flock

    def _wait(self, fd: int, deadline: float) -> None:
        if not safefile.lock_by(fd, deadline, _try_flock):
            raise _refused(self.shown, "locked", f"{self.shown} is locked by another "
                           f"program for over {self.timeout:g} s", "wait for the other "
                           f"update of {self.shown} to finish, then try again")

    def acquire_and_read(self) -> _Seen | None:
        """Lock the file and read it; None when it does not exist (creating it then
        fails if another program creates it first)."""
        self.release_file()
        deadline = time.monotonic() + self.timeout
        if WINDOWS and self.sidecar is None:
            self.sidecar = os.open(self.target + ".lock", os.O_RDWR | os.O_CREAT | O_BINARY,
                                   0o600)
            self._wait(self.sidecar, deadline)
        while True:
            try:
                fd = os.open(self.target, READ | O_NOFOLLOW)
            except FileNotFoundError:
                return None
            except OSError as error:
                if error.errno != errno.ELOOP:
                    raise
                raise _refused(self.shown, "permission", f"{self.shown} became a symbolic "
                               "link during the run; it is not followed",
                               "check who changed it") from None
            try:
                if not WINDOWS:  # Windows locks the sidecar, and cannot replace an open file
                    _need_regular(self.shown, os.fstat(fd))
                    self._wait(fd, deadline)
                    if not _same_inode(self.target, fd):
                        continue  # replaced while we waited: lock the new file
                    self.fd = fd
                found = _read_bounded(self.shown, fd)  # checked again, now that it is held
                _check_file(self.shown, self.target, found.info)  # type: ignore[arg-type]
                return found
            finally:
                if fd != self.fd:
                    os.close(fd)

    def verify(self, written: bytes) -> None:
        if self.fd is not None:
            data = read_start(self.fd, MAX_SIZE)
        else:
            with open(self.target, "rb") as handle:
                data = handle.read(len(written) + 1)
        if data != written:
            raise EnvFileError(f"{self.shown} did not read back as written",
                               hint="another program may be writing it at the same time, "
                                    "or the disk is failing", path=self.shown, reason="io")

    def _choose(self, current: EnvFile) -> tuple[dict[str, Hidden], float]:
        self.computes += 1
        values, good_until = self.compute(current)
        hidden = {key: Hidden(value) for key, value in values.items()}
        del values  # error trackers record this frame's locals: the values only as Hidden
        if not all(isinstance(key, str) and isinstance(value.reveal(), str)
                   for key, value in hidden.items()):
            raise InvalidInputError("compute() must return a mapping of str to str",
                                    what="compute")
        return hidden, float(good_until)

    def _changing(self, attempts: int, extra: str = "") -> EnvFileError:
        return _refused(self.shown, "changing", f"{self.shown} kept changing while it was "
                        f"being updated ({attempts} attempts){extra}", "another program keeps "
                        "writing it; try again when it is done")

    def run(self, attempts: int) -> UpdateResult:
        # File contents stay in _Seen, whose repr hides them from error trackers.
        reads = carries = 0
        carried: tuple[_Seen, _Seen] | None = None
        while True:
            if carried is None:
                if reads == attempts:
                    raise self._changing(attempts)
                reads += 1
                seen = self.acquire_and_read()
                if reads == 1:
                    _remove_stale_temp_files(self.folder, self.target)
                base = seen or _Seen(None, b"")
            else:
                (base, seen), carried = carried, None
            current = _parsed(self.shown, base, None)
            for _ in range(6):
                values, good_until = self._choose(current)
                try:
                    text = _new_text(current._text, current, values)
                except ValueError as error:
                    raise _refused(self.shown, "value", f"cannot update {self.shown}: "
                                   f"{error}") from None
                if text is None:  # the file already says exactly this
                    return UpdateResult(self.shown, self.target, values, good_until, False,
                                        reads, self.computes)
                new = _Seen(None, text.reveal().encode("utf-8"))
                if self.temp is None:
                    self.temp = _Temp(self.folder, self.target)
                    self.temp.create()
                self.temp.write(new.data, seen.info if seen else None, self.fd)
                if self.clock() < good_until:
                    break  # what compute chose is still good once written
            else:
                raise _refused(self.shown, "changing", f"cannot write {self.shown}: the "
                               "values to write kept expiring before the file could be replaced")
            committed, lost = _commit(self.temp, self.target, seen)
            if not committed:  # another program changed it: redo on its new content
                self.temp.remove()
                self.temp = None
                continue
            self.replaced = True
            # From now on the lock held is the new file's.
            old_fd, self.fd, self.temp.fd = self.fd, self.temp.fd, None
            undeletable, self.temp = self.temp.undeletable, None
            if old_fd is not None:
                try:
                    lost = _changed(old_fd, seen) if lost is None and seen else lost
                finally:
                    os.close(old_fd)
            if undeletable is not None:  # emptied (it keeps no secret), then tried again
                _empty(undeletable)
                safefile.remove_quietly(undeletable)
            _fsync_folder(self.folder)
            self.verify(new.data)
            if lost is not None:  # written into the old file during the rename itself
                if carries == attempts:
                    raise self._changing(attempts, "; the last change another program "
                                                   "made may be missing from it")
                carries += 1
                now = os.fstat(self.fd) if self.fd is not None else os.stat(self.target)
                carried = (lost, _Seen(now, new.data))
                continue
            return UpdateResult(self.shown, self.target, values, good_until, True, reads,
                                self.computes)


def _commit(temp: _Temp, target: str, seen: _Seen | None) -> tuple[bool, _Seen | None]:
    """Put ``temp`` in ``target``'s place if the file is still as read: ``(committed,
    lost)``; ``lost`` is what another program wrote in the instant before a swap."""
    if seen is None:
        return temp.create_target(target), None
    if not _still(target, seen):
        return False, None
    assert temp.name is not None
    if not _rename_over(temp.name, target):
        temp.name = None  # renamed: nothing to remove any more
        return True, None
    temp.placed = True
    fd = os.open(temp.name, READ | O_NOFOLLOW)  # now the displaced old file
    try:
        lost = _changed(fd, seen)
    finally:
        os.close(fd)
    try:
        temp.remove_name()
    except OSError:  # a fault keeps the old file's name: it is emptied once checked
        temp.undeletable, temp.name = temp.name, None
    return True, lost


def _empty(name: str) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(name, os.O_WRONLY | O_CLOEXEC | O_NOFOLLOW | safefile.O_NONBLOCK)
        try:
            os.ftruncate(fd, 0)
        finally:
            os.close(fd)


def _rename_over(source: str, target: str) -> bool:
    """True when the two were swapped (``source`` then names the old file)."""
    if _exchange(source, target):
        return True
    os.replace(source, target)
    return False


@functools.cache
def _renameat2() -> Callable[[int, bytes, int, bytes, int], int] | None:
    try:
        import ctypes
        loaded = ctypes.CDLL(None, use_errno=True).renameat2
        loaded.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                           ctypes.c_uint)
        return loaded
    except (ImportError, OSError, AttributeError):
        return None  # glibc before 2.28


def _exchange(source: str, target: str) -> bool:
    """Swap two names with Linux's ``renameat2(RENAME_EXCHANGE)``; False (nothing
    done) where the system or the filesystem cannot."""
    function = _renameat2() if sys.platform.startswith("linux") else None
    at_cwd, rename_exchange = -100, 2
    # Any failure (an old kernel, a filesystem without it): the plain rename runs
    # next, and reports a real error if there is one.
    return function is not None and function(at_cwd, os.fsencode(source), at_cwd,
                                             os.fsencode(target), rename_exchange) == 0


def _still(target: str, seen: _Seen) -> bool:
    try:
        fd = os.open(target, READ | O_NOFOLLOW)
    except OSError:
        return False
    try:
        before = os.fstat(fd)
        if not seen.same_file(before) or before.st_size != len(seen.data) \
                or read_start(fd, MAX_SIZE) != seen.data:
            return False
        after = os.stat(target, follow_symlinks=False)  # replaced while compared?
        return seen.same_file(after) and after.st_mtime_ns == before.st_mtime_ns
    finally:
        os.close(fd)


def _changed(fd: int, seen: _Seen) -> _Seen | None:
    """The file open as ``fd``, if its bytes are no longer ``seen``'s."""
    now = _Seen(os.fstat(fd), read_start(fd, MAX_SIZE))
    return None if now.data == seen.data else now


def _same_inode(path: str, fd: int) -> bool:
    try:
        return os.path.samestat(os.stat(path, follow_symlinks=False), os.fstat(fd))
    except FileNotFoundError:
        return False


class _Temp:
    """The new file, beside the target; locked, so that another run's clean-up of
    stale ones leaves it alone."""

    def __init__(self, folder: str, target: str) -> None:
        self.name: str | None = None
        self.fd: int | None = None
        self.prefix = os.path.join(folder, _temp_prefix(target))
        self.undeletable: str | None = None  # the displaced old file, if it could not go
        self.placed = False  # it became the target (made, or swapped with the old file)

    def create(self) -> None:
        for _ in range(100):
            self.name = self.prefix + os.urandom(6).hex()
            try:  # 0600: right for a new env file; an old file's mode is copied
                self.fd = os.open(self.name, os.O_RDWR | os.O_CREAT | os.O_EXCL | O_BINARY
                                  | O_CLOEXEC | O_NOFOLLOW, 0o600)
            except FileExistsError:
                self.name = None
                continue
            except OSError:
                self.name = None
                raise
            if WINDOWS or (_try_flock(self.fd) and _same_inode(self.name, self.fd)):
                return
            os.close(self.fd)  # removed by another run's clean-up just now
            self.fd = None
        raise OSError(errno.EEXIST, "cannot create a temporary file")

    def write(self, data: bytes, like: os.stat_result | None, source: int | None) -> None:
        """Write ``data`` with the owner, group, mode and extended attributes of
        ``like`` (open as ``source``), and fsync it."""
        if self.fd is None:  # Windows: closed after the last write
            assert self.name is not None
            self.fd = os.open(self.name, os.O_RDWR | O_BINARY)
        fd = self.fd
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        safefile.write_all(fd, data)
        if like is not None and not WINDOWS:
            if (like.st_uid, like.st_gid) != (os.fstat(fd).st_uid, os.fstat(fd).st_gid):
                os.fchown(fd, like.st_uid, like.st_gid)  # checked beforehand that it may
            if source is not None and hasattr(os, "listxattr"):
                for name in os.listxattr(source):  # POSIX ACLs are system.posix_acl_*
                    value = os.getxattr(source, name)
                    try:
                        os.setxattr(fd, name, value)
                    except OSError:  # not allowed (security.selinux): fine if already so
                        if name not in os.listxattr(fd) or os.getxattr(fd, name) != value:
                            raise
            os.fchmod(fd, stat.S_IMODE(like.st_mode))
        os.fsync(fd)
        if WINDOWS:  # Windows cannot rename an open file
            self.fd = None
            os.close(fd)

    def create_target(self, target: str) -> bool:
        """False if a file appeared at ``target`` meanwhile."""
        assert self.name is not None
        try:
            os.link(self.name, target)
        except FileExistsError:
            return False
        except (OSError, NotImplementedError, AttributeError):
            if os.path.lexists(target):  # no hard links here (FAT...): rename instead
                return False
            os.replace(self.name, target)
            self.name = None
            return True
        self.placed = True
        self.remove_name()
        return True

    def remove_name(self) -> None:
        if self.name is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.name)
            self.name = None  # only now: an interrupt above leaves it for remove()

    def remove(self) -> None:
        fd, self.fd = self.fd, None
        try:
            if fd is not None:
                os.close(fd)
        finally:
            with contextlib.suppress(OSError):  # must not hide the error being raised
                self.remove_name()


def _temp_prefix(target: str) -> str:
    """``.env.totp-tmp-``, cut so that the whole name fits in 255 bytes."""
    name = os.fsencode(os.path.basename(target))
    name = (name if name.startswith(b".") else b"." + name)[:255 - len(_TEMP_MARK) - 12]
    return os.fsdecode(name) + _TEMP_MARK


def _remove_stale_temp_files(folder: str, target: str) -> None:
    """Remove temporary files killed runs left: a live run holds a lock on its own
    (on Windows, has it open, which forbids removing it)."""
    prefix = _temp_prefix(target)
    try:
        names = [entry.name for entry in os.scandir(folder) if entry.name.startswith(prefix)]
    except OSError:
        return
    for name in names:
        path = os.path.join(folder, name)
        if WINDOWS:
            safefile.remove_quietly(path)
            continue
        with contextlib.suppress(OSError):
            fd = os.open(path, READ | O_NOFOLLOW)
            try:
                if _try_flock(fd) and _same_inode(path, fd):
                    os.unlink(path)
            finally:
                os.close(fd)


def _fsync_folder(folder: str) -> None:
    with contextlib.suppress(OSError):  # the write is done: a folder may refuse (0333)
        safefile.fsync_folder(folder)


def _os_error(action: str, shown: str, error: OSError, folder: str | None = None
              ) -> EnvFileError:
    where = shown if folder is None else f"{shown} (in its folder {folder})"
    message = f"cannot {action} {where}: {safefile.strerror(error)}"
    permission = ("permission", f"check the permissions of {shown} and its folder")
    mounted = ("mount", "a mounted file cannot be replaced: mount its folder instead")
    full = ("io", "free some space on that disk")
    reason, hint = {
        errno.EACCES: permission,
        errno.EPERM: permission,
        errno.EROFS: ("read_only", "the filesystem is mounted read-only"),
        errno.ENOTDIR: ("no_folder", "check the folders in the path"),
        errno.EISDIR: ("not_a_file", "give the path of a .env file"),
        errno.ENOENT: ("missing", "check the path"),
        errno.ENOSPC: full,
        getattr(errno, "EDQUOT", errno.ENOSPC): full,
        errno.EBUSY: mounted,
        errno.EXDEV: mounted,
        errno.ENAMETOOLONG: ("not_a_file", "give a shorter path"),
    }.get(error.errno or 0, ("io", ""))
    return _refused(shown, reason, message, hint)


def next_step(error: EnvFileError) -> str:
    """``error``'s hint without "the file was left untouched" (no news to a reader)."""
    return (error.hint or "").removesuffix(_UNTOUCHED).removesuffix("; ")


def _refused(shown: str, reason: str, message: str, hint: str = "") -> EnvFileError:
    return EnvFileError(message, hint=f"{hint}; {_UNTOUCHED}" if hint else _UNTOUCHED,
                        path=shown, reason=reason)

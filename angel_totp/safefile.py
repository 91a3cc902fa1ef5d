"""The file-safety rules the env file and the session store share: one home."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import sys
import time
from collections.abc import Callable

WINDOWS = sys.platform == "win32"
O_BINARY = getattr(os, "O_BINARY", 0)
O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # a FIFO would hang an open without it
READ = os.O_RDONLY | O_BINARY | O_CLOEXEC | O_NONBLOCK
_LOCK_BUSY = {errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES, errno.EDEADLK}
_WINDOWS_LOCK_OFFSET = 1 << 30  # msvcrt locks bytes: one far from any content
Refuse = Callable[[str, str, str], Exception]  # (reason, message, hint): the caller's error


def strerror(error: OSError) -> str:
    """What went wrong, in words fit for a message: ``permission denied``."""
    return (error.strerror or type(error).__name__).lower()


def read_start(fd: int, limit: int) -> bytes:
    """The file from its start, ``limit`` + 1 bytes at most (one more tells it is over)."""
    os.lseek(fd, 0, os.SEEK_SET)
    with open(fd, "rb", buffering=0, closefd=False) as handle:
        return handle.read(limit + 1)


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    del data  # a tracker shows a memoryview's address, never its bytes
    while view:
        view = view[os.write(fd, view):]


def fsync_folder(folder: str) -> None:
    """Make a rename in ``folder`` durable (POSIX; Windows cannot open a folder)."""
    if WINDOWS:
        return
    fd = os.open(folder, os.O_RDONLY | O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def try_lock(fd: int) -> bool:
    """Take the exclusive lock on ``fd`` if it is free; False if another holds it."""
    try:
        if WINDOWS:
            import msvcrt
            os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
        else:
            import fcntl
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        if error.errno in _LOCK_BUSY:
            return False
        raise
    return True


def lock_by(fd: int, deadline: float, attempt: Callable[[int], bool] = try_lock) -> bool:
    """Take the lock on ``fd`` by ``deadline`` (``time.monotonic()``); False if it stayed held."""
    pause = 0.005
    while not attempt(fd):
        if time.monotonic() >= deadline:
            return False
        time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
        pause = min(pause * 2, 0.05)
    return True


def unlock(fd: int) -> None:
    """Before closing ``fd``: Windows wants its byte lock undone (POSIX: the close does)."""
    if WINDOWS:
        import msvcrt
        os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)  # type: ignore[attr-defined]


def append_only_or_immutable(path: str) -> bool:
    """Whether ``path`` is append-only or immutable (``chattr +a``/``+i``): such a
    file cannot be replaced, and in such a folder no file can be renamed or removed."""
    if not sys.platform.startswith("linux"):
        return False
    import array
    import fcntl
    try:
        fd = os.open(path, READ | O_NOFOLLOW)
    except OSError:
        return False
    try:
        flags = array.array("l", [0])
        fcntl.ioctl(fd, 0x80086601, flags)  # FS_IOC_GETFLAGS
    except OSError:
        return False
    finally:
        os.close(fd)
    return bool(flags[0] & (0x20 | 0x10))  # FS_APPEND_FL | FS_IMMUTABLE_FL


def absolute(path: str, subject: str, refuse: Refuse) -> str:
    """``path`` made absolute, not normalised ("link/.." is the kernel's to resolve, not
    the current folder); refused (``subject``: what could not be done) when it is
    relative and the current folder was removed."""
    try:
        return path if os.path.isabs(path) else os.path.join(os.getcwd(), path)
    except FileNotFoundError:  # os.getcwd()
        raise refuse("no_folder", f"{subject}: the current folder no longer exists",
                     "change to an existing folder, or give an absolute path") from None


def check_regular(info: os.stat_result, subject: str, refuse: Refuse, hint: str) -> None:
    """Refuse anything but a regular file: a folder, a FIFO, a device..."""
    if not stat.S_ISREG(info.st_mode):
        what = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        raise refuse("not_a_file", f"{subject} is {what}", hint)


def check_one_name(info: os.stat_result, subject: str, refuse: Refuse) -> None:
    """Refuse a file with other names (hard links): replacing it would split them from it,
    and writing it in place (a lock file's record) would change them too."""
    if info.st_nlink > 1:  # (0: replaced since it was opened; the writer finds that later)
        raise refuse("hard_linked", f"{subject} has {info.st_nlink} hard links; an update "
                     "would split the other names from it or change them too",
                     "keep one name for it (remove the other links), or copy it to a file "
                     "of its own (another user's link cannot be removed)")


def check_replaceable(path: str, subject: str, refuse: Refuse, folder: bool = False) -> None:
    """Refuse a file that cannot be replaced (append-only or immutable, a mount point),
    or a ``folder`` in which no file can be renamed or removed (append-only or immutable)."""
    if append_only_or_immutable(path):
        raise refuse("read_only", f"{subject} is append-only or immutable: " + (
            "no file in it can be renamed or removed" if folder else "it cannot be replaced"),
            f"check its attributes (lsattr{' -d' if folder else ''} {path})")
    if not folder and mount_point(path):
        raise refuse("mount", f"{subject} is a mount point (a file bind-mounted on its own, "
                     "as docker -v does); it cannot be replaced",
                     "mount its folder instead (-v ./config:/app/config)")


def mount_point(path: str) -> bool:
    """Whether ``path`` is a mount point (Linux's mountinfo; False elsewhere)."""
    try:
        with open("/proc/self/mountinfo", "rb") as handle:
            table = handle.read()
        # The table names real paths: a folder reached through a link is resolved first.
        folder = os.path.realpath(os.path.dirname(os.path.abspath(path)))
    except OSError:  # no such table, or the current folder was removed
        return False
    # The kernel writes a space, tab, newline or backslash in a path as \ooo.
    wanted = re.sub(rb"[ \t\n\\]", lambda found: b"\\%03o" % found[0][0],
                    os.fsencode(os.path.join(folder, os.path.basename(path))))
    return any(line.split(b" ")[4:5] == [wanted] for line in table.splitlines())

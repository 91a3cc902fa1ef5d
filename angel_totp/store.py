"""Today's session, shared by every process of a bot: :func:`daily_session`.

Angel One accepts each code once, so a bot's processes share one login a day, kept
in a private file (the store) under an exclusive lock.
"""

from __future__ import annotations

import contextlib
import errno
import hmac
import json
import os
import secrets
import stat
import sys
import time
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta, timezone
from typing import NamedTuple

from . import protocol
from .checks import check_environ, check_path, check_text
from .clock import ClockOffset
from .codes import DEFAULT_MIN_VALIDITY, Code
from .errors import InvalidInputError, LoginRefusedError, SessionStoreError
from .hidden import Hidden
from .safefile import (
    O_BINARY,
    O_NOFOLLOW,
    READ,
    WINDOWS,
    absolute,
    check_one_name,
    check_regular,
    check_replaceable,
    fsync_folder,
    lock_by,
    read_start,
    remove_quietly,
    strerror,
    unlock,
    write_all,
)
from .secret import TotpSecret
from .session import (
    ENDED_CODES,
    LOGOUT_AFTER_INTERRUPT_S,
    Credentials,
    Session,
    _hide,
    check_credentials,
    check_options,
    last_login_step,
    log_in,
    login_settings,
    resume,
)

STORE_VERSION = 1
IST = timezone(timedelta(hours=5, minutes=30))  # India's time all year: Angel One's day
MAX_STORE_BYTES = 64 * 1024


def daily_session(env_file: object = ".env", *, store: object = None, verify: bool = True,
                  base_url: str | None = None, timeout: float = 10.0,
                  min_validity: float = DEFAULT_MIN_VALIDITY, server_time: bool = False,
                  environ: Mapping[str, str] | None = None) -> Session:
    """Today's session for the account in the settings (read as
    :func:`~angel_totp.login_from_env` reads them), logging in only if no process has.

    Under the store's lock, a session stored today (in India) for the same client
    code and API key is returned (``reused=True``), after one profile request that
    proves it works (``verify``); otherwise this logs in once, never with the step of
    the store's last code, and saves the session. Only
    :meth:`~angel_totp.Session.logout` logs it out (and removes the store). Raises
    what ``login_from_env()`` raises, and SessionStoreError for a store that is
    unsafe, cannot be written, or stayed locked longer than a login takes.
    """
    if store is not None and env_file is not None:
        store, env_file = check_path(store, "store"), check_path(env_file, "env_file")
        with contextlib.suppress(OSError):  # the current folder was removed: reading says so
            if os.path.realpath(store) == os.path.realpath(env_file):
                raise InvalidInputError("store must not be the env file: the session would "
                                        "replace its settings", hint="name a store of its "
                                        "own, or none for the default", what="store")
    found, environ = login_settings(env_file, base_url, environ)
    return daily_login(**found, store=store, verify=verify, timeout=timeout,
                       min_validity=min_validity, server_time=server_time, environ=environ)


def daily_login(api_key: str | Hidden, client_code: str, pin: str | Hidden,
                secret: TotpSecret | str | Hidden | None = None, *,
                totp: str | Hidden | None = None, store: object = None, verify: bool = True,
                base_url: str = protocol.DEFAULT_BASE_URL, timeout: float = 10.0,
                min_validity: float = DEFAULT_MIN_VALIDITY, server_time: bool = False,
                environ: Mapping[str, str] | None = None,
                on_wait: Callable[[Code, float], None] | None = None,
                on_clock: Callable[[ClockOffset], None] | None = None,
                sleep: Callable[[float], None] = time.sleep,
                names: Mapping[str, str] | None = None) -> Session:
    """:func:`daily_session` with the settings given as :func:`~angel_totp.login` takes
    them; ``store`` defaults to :func:`default_store_path`."""
    api_key, pin, secret, totp = _hide(api_key), _hide(pin), _hide(secret), _hide(totp)
    credentials = check_credentials(api_key, client_code, pin, secret, totp=totp, names=names)
    options = check_options(credentials, base_url, timeout, min_validity, server_time, environ,
                            names, {"on_wait": on_wait, "on_clock": on_clock, "sleep": sleep})
    if not isinstance(verify, bool):
        raise InvalidInputError("verify must be True or False", what="verify")
    named = default_store_path(credentials.client_code, environ) if store is None else \
        check_path(store, "store")
    path = os.path.normpath(absolute(named, f"cannot use the session store {named}",
                                     _refuse(named)))
    with _Lock(path, login_time(options.timeout)) as lock:
        remove_quietly(_temporary(path))  # a crashed holder's, tokens in it
        stored = _read(path)
        if stored is not None and _usable(stored, credentials):
            try:
                session = resume(credentials, options, environ, stored.tokens, verify)
            except LoginRefusedError as error:
                if error.errorcode not in ENDED_CODES:
                    raise
            else:
                return _shared(session, path)
        last_step = stored.step if stored is not None and \
            stored.client_code == credentials.client_code else None
        if lock.spent is not None:  # a holder died mid-login: its step may be spent
            last_step = max(lock.spent, lock.spent if last_step is None else last_step)
        # Before a login: a session that could not be saved would cost a code for nothing.
        check_replaceable(path, f"the session store {path}", _refuse(path))
        # The last step a login starting now may use (after at most one wait).
        period = credentials.secret.period if credentials.secret is not None else 30
        now = int(time.time() // period)
        lock.record(max(now, -1 if last_step is None else last_step + 1) + 1)
        before = last_login_step(options.url, credentials.client_code)
        try:
            session = log_in(credentials, options, environ, on_wait, on_clock, sleep, last_step)
        except BaseException:
            # The step this login kept, if it kept one (its code may have been taken),
            # rather than the highest it might have reached: no second wait for the next.
            after = last_login_step(options.url, credentials.client_code)
            kept = None if after == before else after
            lock.record(max((step for step in (kept, lock.spent) if step is not None),
                            default=None), quiet=True)
            raise
        step = session._exchange.step
        try:
            _save(path, session, credentials.api_key, last_step if step is None else step)
        except BaseException as error:  # after Ctrl-C or SIGTERM: one short try, then go
            session.logout(None if isinstance(error, Exception) else LOGOUT_AFTER_INTERRUPT_S)
            raise
        lock.record(None, quiet=True)  # the store says which step was spent
        return _shared(session, path)


def default_store_path(client_code: str, environ: Mapping[str, str] | None = None) -> str:
    """The store for ``client_code`` in this user's state folder (XDG_STATE_HOME,
    LOCALAPPDATA and HOME read from ``environ``, default ``os.environ``)."""
    code = protocol.check_client_code(check_text(client_code, "client_code"), "client_code")
    environ = check_environ(environ)
    home = environ.get("HOME") or os.path.expanduser("~")
    if sys.platform == "win32":
        profile = environ.get("USERPROFILE") or os.path.expanduser("~")
        folder = environ.get("LOCALAPPDATA") or os.path.join(profile, "AppData", "Local")
    elif sys.platform == "darwin":
        folder = os.path.join(home, "Library", "Application Support")
    else:
        state = environ.get("XDG_STATE_HOME", "")
        folder = state if os.path.isabs(state) else os.path.join(home, ".local", "state")
    if "\0" in folder:
        raise InvalidInputError("environ: the state folder (HOME, XDG_STATE_HOME or "
                                "LOCALAPPDATA) contains a NUL character", what="environ")
    project = __name__.partition(".")[0].replace("_", "-")  # angel-totp
    return os.path.join(folder, project, f"{code}.json")


def login_time(timeout: float) -> float:
    """How long one process may hold the store: four requests and two code waits."""
    return 4 * timeout + 2 * 30 + 1


class StoredSession(NamedTuple):
    client_code: str
    fingerprint: str  # of the API key, with salt: never the key
    salt: str
    made_on: date     # in India
    step: int | None  # the step of its login's code
    tokens: protocol.Tokens


def _fingerprint(api_key: Hidden, salt: str) -> str:
    return hmac.new(salt.encode(), api_key.reveal().encode(), "sha256").hexdigest()


def _usable(stored: StoredSession, credentials: Credentials) -> bool:
    # The same account (client code and API key), and made today in India.
    return (stored.client_code == credentials.client_code
            and hmac.compare_digest(stored.fingerprint.encode(),
                                    _fingerprint(credentials.api_key, stored.salt).encode())
            and stored.made_on == datetime.fromtimestamp(time.time(), IST).date())


def _read(path: str) -> StoredSession | None:
    """The stored session; None when there is none or it is not one; unsafe raises."""
    try:
        fd = os.open(path, READ | O_NOFOLLOW)
        try:
            _check_file(path, os.fstat(fd), path)
            raw = read_start(fd, MAX_STORE_BYTES)
        finally:
            os.close(fd)
    except FileNotFoundError:
        return None
    except SessionStoreError:
        raise
    except OSError as error:
        raise _unusable(path, error) from None
    try:
        record = json.loads(raw)
        texts = ("client_code", "key_fingerprint", "salt", "jwt_token", "refresh_token",
                 "feed_token")
        if not isinstance(record, dict) or record.get("version") != STORE_VERSION or \
                not all(isinstance(record.get(key), str) for key in texts):
            return None
        made_at, step = record["made_at"], record.get("totp_step")
        if type(made_at) not in (int, float) or type(step) not in (int, type(None)):
            return None
        tokens = protocol.read_tokens({"jwtToken": record["jwt_token"],  # fit to send back
                                       "refreshToken": record["refresh_token"],
                                       "feedToken": record["feed_token"]})
        protocol.check_tokens(tokens)
        return StoredSession(record["client_code"], record["key_fingerprint"], record["salt"],
                             datetime.fromtimestamp(made_at, IST).date(), step, tokens)
    except (ValueError, LookupError, TypeError, OverflowError, OSError, RecursionError,
            protocol.BadReply):
        return None


def _save(path: str, session: Session, api_key: Hidden, step: int | None) -> None:
    temporary = _temporary(path)
    salt = secrets.token_hex(16)
    replaced = False
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | O_NOFOLLOW | O_BINARY,
                     0o600)
        try:
            write_all(fd, json.dumps({  # no local holds the tokens
                "version": STORE_VERSION, "client_code": session.client_code,
                "key_fingerprint": _fingerprint(api_key, salt), "salt": salt,
                "made_at": time.time(), "totp_step": step,
                "jwt_token": str(session.jwt_token), "refresh_token": str(session.refresh_token),
                "feed_token": str(session.feed_token)}, indent=1).encode() + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, path)
        replaced = True
        fsync_folder(os.path.dirname(path))
    except BaseException as error:
        remove_quietly(path if replaced else temporary)  # the caller logs this session out
        if isinstance(error, OSError):
            raise SessionStoreError(f"the session store {path} could not be written "
                                    f"({strerror(error)})", "check the disk and the folder's "
                                    "permissions, or name another store", path=path) from None
        raise


def _temporary(path: str) -> str:
    # One name: only the lock's holder writes.
    folder, name = os.path.split(path)
    return os.path.join(folder, f".{name}.tmp")


def _forget(path: str, session: Session) -> None:
    """After a logout: remove the store if it still holds this session (not a newer one);
    never raise (a logout never does): the ended session fails its next check."""
    with contextlib.suppress(OSError), _Lock(path, LOGOUT_AFTER_INTERRUPT_S):
        stored = _read(path)
        if stored is not None and hmac.compare_digest(
                stored.tokens.jwt.reveal().encode(), str(session.jwt_token).encode()):
            os.unlink(path)
            fsync_folder(os.path.dirname(path))


def _shared(session: Session, path: str) -> Session:
    session.store_path = path
    session._after_logout = lambda ended: _forget(path, ended)
    return session


def _check_file(path: str, info: os.stat_result, store: str) -> None:
    check_regular(info, f"the session store {path}", _refuse(store),
                  "give the path of a regular file")
    check_one_name(info, f"the session store {path}", _refuse(store))
    if not WINDOWS:
        _check_private(f"the session store {path}", path, info, 0o066, store,
                       f"chmod 600 {path} (and log in again if others may have read it)")


def _ensure_folder(folder: str, store: str) -> None:
    """Make a missing folder, and refuse one where the store would not be private."""
    try:
        if not os.path.isdir(folder):
            os.makedirs(folder, 0o700, exist_ok=True)
            if not WINDOWS:  # chmod 700 whatever the umask; never through a link
                fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | O_NOFOLLOW)
                try:
                    if os.fstat(fd).st_uid == os.geteuid():  # nor another's folder
                        os.fchmod(fd, 0o700)
                finally:
                    os.close(fd)
        info = os.stat(folder)
    except OSError as error:
        raise _unusable(folder, error, store) from None
    if not stat.S_ISDIR(info.st_mode):
        raise SessionStoreError(f"{folder}, the session store's folder, is not a folder",
                                "name another store", path=store, reason="not_a_file")
    if WINDOWS:
        return
    link = _link_of_another_user(folder)
    if link is not None:
        raise SessionStoreError(f"the session store's folder {folder} is reached through "
                                f"{link}, a symbolic link another user owns (and may point "
                                "elsewhere); the store was not used",
                                f"name the folder itself, without {link}", path=store,
                                reason="unsafe")
    _check_private(f"the session store's folder {folder}", folder, info, 0o022, store,
                   f"chmod 700 {folder}")
    check_replaceable(folder, f"the session store's folder {folder}", _refuse(store),
                      folder=True)


def _check_private(name: str, path: str, info: os.stat_result, others: int, store: str,
                   chmod: str) -> None:
    # Refuse what another user owns, or what group or others may use (``others`` bits).
    if info.st_uid != os.geteuid():
        raise SessionStoreError(f"{name} is owned by another user; the store was not used",
                                f"name another store, or make it yours: chown {os.geteuid()} "
                                f"{path}", path=store, reason="unsafe")
    if info.st_mode & others:
        can = "read or written" if others & 0o044 else "written"
        raise SessionStoreError(f"{name} can be {can} by other users; the store was not "
                                "used", chmod, path=store, reason="unsafe")


def _link_of_another_user(folder: str) -> str | None:
    """The first symbolic link on the way to ``folder`` owned by neither this user nor root."""
    path = folder
    while True:
        with contextlib.suppress(OSError):
            info = os.lstat(path)
            if stat.S_ISLNK(info.st_mode) and info.st_uid not in (0, os.geteuid()):
                return path
        if path == os.path.dirname(path):
            return None
        path = os.path.dirname(path)


def _refuse(store: str) -> Callable[[str, str, str], SessionStoreError]:
    return lambda reason, message, hint: SessionStoreError(
        message, f"{hint}, or name another store", path=store, reason=reason)


def _unusable(path: str, error: OSError, store: str | None = None) -> SessionStoreError:
    if error.errno == errno.ELOOP:
        return SessionStoreError(f"the session store {path} is a symbolic link",
                                 "name the file itself, or remove the link",
                                 path=store or path, reason="not_a_file")
    return SessionStoreError(f"the session store {path} cannot be used ({strerror(error)})",
                             "check its owner and permissions, or name another store",
                             path=store or path, reason="io")


class _Lock:
    """An exclusive lock on a file beside the store (each save replaces the store).
    It holds the holder's pid and :attr:`spent`, a step a holder that died mid-login
    may have used."""

    def __init__(self, store: str, wait: float) -> None:
        self.store = store
        self.path = store + ".lock"
        self.wait = wait
        self.fd = -1
        self.spent: int | None = None

    def __enter__(self) -> _Lock:
        _ensure_folder(os.path.dirname(self.store), self.store)
        deadline = time.monotonic() + self.wait
        try:
            while not self._locked(deadline):
                unlock(self.fd)  # removed or replaced while we waited: lock the one there now
                self._close()
            fields = self._content().partition("\n")[0].split()  # not a longer one's tail
            self.spent = int(fields[1]) if len(fields) == 2 and fields[1].isdigit() else None
            self.record(self.spent)
        except BaseException as error:
            self._close()
            if isinstance(error, OSError) and not isinstance(error, SessionStoreError):
                raise _unusable(self.path, error, self.store) from None
            raise
        return self

    def _locked(self, deadline: float) -> bool:
        """Lock the lock file; whether the path still names the file locked."""
        try:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | O_NOFOLLOW | O_BINARY, 0o600)
        except IsADirectoryError:  # a folder cannot be opened to write: say it as for a file
            _check_file(self.path, os.lstat(self.path), self.store)
            raise
        _held.add(self)
        _check_file(self.path, os.fstat(self.fd), self.store)
        # Its record is written in place: a bind-mounted one would write the file
        # mounted over it, as a hard link's other name (check_one_name).
        check_replaceable(self.path, f"the session store's lock file {self.path}",
                          _refuse(self.store))
        if not lock_by(self.fd, deadline):
            pid = (self._content().split() or [""])[0]
            holder = f"process {pid}" if pid.isdigit() else "another process"
            raise SessionStoreError(
                f"the session store {self.store} stayed locked for {self.wait:g} s "
                f"by {holder}", "that process is logging in or is stuck: "
                "try again, or end it", path=self.store, reason="locked")
        try:
            return os.path.samestat(os.stat(self.path, follow_symlinks=False),
                                    os.fstat(self.fd))
        except FileNotFoundError:
            return False

    def __exit__(self, *exc_info: object) -> None:
        if self.fd >= 0:  # else a forked child's copy, closed: its parent holds the lock
            unlock(self.fd)
        self._close()

    def _close(self) -> None:
        _held.discard(self)
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def record(self, spent: int | None, quiet: bool = False) -> None:
        line = f"{os.getpid()}{'' if spent is None else f' {spent}'}\n".encode()
        try:  # over the old record, then cut: a Ctrl-C or kill between never leaves none
            os.lseek(self.fd, 0, os.SEEK_SET)
            os.write(self.fd, line)
            os.ftruncate(self.fd, len(line))
        except OSError as error:
            if not quiet:
                raise _unusable(self.path, error, self.store) from None

    def _content(self) -> str:
        try:
            return read_start(self.fd, 64).decode("ascii")
        except (OSError, UnicodeDecodeError):
            return ""


# Locks this process holds. A child forked meanwhile (a bot's worker pool) would
# keep each one held for as long as it lives: it closes its copies at once.
_held: set[_Lock] = set()


def _close_held_in_child() -> None:
    for lock in list(_held):
        lock._close()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_close_held_in_child)

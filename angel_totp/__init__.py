"""TOTP codes, Angel One's clock and a SmartAPI login, for bots and scripts: a bot
starts with ``session = angel_totp.daily_session()`` (see docs/python-api.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import (
    AngelTotpError,
    EnvFileError,
    InvalidInputError,
    InvalidSecretError,
    InvalidSettingError,
    LoginError,
    LoginRefusedError,
    MissingSecretError,
    MissingSettingError,
    NoAnswerError,
    SessionStoreError,
)

__version__ = "0.3.0"

if TYPE_CHECKING:  # what type checkers see; at run time, _LAZY below
    from .clock import ClockOffset
    from .codes import Code, code_at, fresh_code
    from .hidden import Hidden
    from .secret import TotpSecret, parse_secret
    from .servertime import measure_server_clock
    from .session import Session, login, login_from_env
    from .settings import Setting, Settings, code_from_env
    from .store import daily_login, daily_session, default_store_path

# Each public name, loaded on first use (a command loads only what its path needs).
_LAZY = {
    "Code": "codes", "code_at": "codes", "fresh_code": "codes",
    "TotpSecret": "secret", "parse_secret": "secret", "Hidden": "hidden",
    "Setting": "settings", "Settings": "settings", "code_from_env": "settings",
    "ClockOffset": "clock", "measure_server_clock": "servertime",
    "Session": "session", "login": "session", "login_from_env": "session",
    "daily_session": "store", "daily_login": "store", "default_store_path": "store",
}

__all__ = [
    "AngelTotpError",
    "ClockOffset",
    "Code",
    "EnvFileError",
    "Hidden",
    "InvalidInputError",
    "InvalidSecretError",
    "InvalidSettingError",
    "LoginError",
    "LoginRefusedError",
    "MissingSecretError",
    "MissingSettingError",
    "NoAnswerError",
    "Session",
    "SessionStoreError",
    "Setting",
    "Settings",
    "TotpSecret",
    "code_at",
    "code_from_env",
    "daily_login",
    "daily_session",
    "default_store_path",
    "fresh_code",
    "login",
    "login_from_env",
    "measure_server_clock",
    "parse_secret",
]


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'angel_totp' has no attribute {name!r}")
    from importlib import import_module
    value = getattr(import_module(f".{module_name}", __name__), name)
    globals()[name] = value
    return value

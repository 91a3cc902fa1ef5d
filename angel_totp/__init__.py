"""TOTP codes and a login check for Angel One SmartAPI.

For a bot, the whole job is one call::

    from angel_totp import code_from_env
    code = code_from_env()      # TOTP_SECRET from the environment, else .env;
                                # waits if the code would expire in < 5 s
    smart_api.generateSession(client_code, pin, code.totp)

or, with the secret in hand, ``fresh_code(secret)``. See :mod:`angel_totp.api`.

Submodules are imported lazily so that ``import angel_totp`` costs almost
nothing and each command loads only what its path needs.
"""

from __future__ import annotations

__version__ = "0.1.0"

_EXPORTS = {
    "code_from_env": "api",
    "MissingSecret": "api",
    "EnvFileError": "envfile",
    "fresh_code": "codes",
    "code_at": "codes",
    "Code": "codes",
    "parse_secret": "secret",
    "TotpSecret": "secret",
    "InvalidSecret": "secret",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'angel_totp' has no attribute {name!r}")
    from importlib import import_module
    value = getattr(import_module(f".{module_name}", __name__), name)
    globals()[name] = value
    return value

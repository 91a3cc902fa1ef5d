#!/usr/bin/env python3
"""Check that an Angel One SmartAPI login works, and say why if not (see --help)."""
import sys

try:
    if sys.version_info < (3, 10):  # noqa: UP036 (a friendly error on an old Python)
        sys.exit("error: this needs Python 3.10 or newer")
    from angel_totp.cli import angel_login_check
except KeyboardInterrupt:  # Ctrl-C while Python is still loading
    print("\ninterrupted", file=sys.stderr)
    sys.exit(130)
if __name__ == "__main__":
    sys.exit(angel_login_check())

#!/usr/bin/env python3
"""Print the current TOTP code for an Angel One SmartAPI login (see --help)."""
import sys

if sys.version_info < (3, 10):  # noqa: UP036 (a friendly error on an old Python)
    sys.exit("error: this needs Python 3.10 or newer")
if __name__ == "__main__":
    from angel_totp.cli import angel_totp  # small: Ctrl-C while loading is handled there
    sys.exit(angel_totp())

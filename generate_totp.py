#!/usr/bin/env python3
"""Print the current TOTP code for an Angel One SmartAPI login.

Run ``python generate_totp.py --help`` for the manual; the logic lives in
the ``angel_totp`` package beside this file.
"""

import sys

if sys.version_info < (3, 10):
    sys.exit("error: generate_totp.py needs Python 3.10 or newer")

from angel_totp.generate import run

if __name__ == "__main__":
    sys.exit(run())

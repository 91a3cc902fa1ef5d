#!/usr/bin/env python3
"""Check that an Angel One SmartAPI login works, and say why if it does not.

Run ``python test_api_connection.py --help`` for the manual; the logic lives
in the ``angel_totp`` package beside this file.
"""

import sys

if sys.version_info < (3, 10):
    sys.exit("error: test_api_connection.py needs Python 3.10 or newer")

from angel_totp.login_check import run

if __name__ == "__main__":
    sys.exit(run())

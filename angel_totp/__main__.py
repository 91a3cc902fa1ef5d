"""``python -m angel_totp`` is ``angel-totp``."""

import sys

from angel_totp.cli import angel_totp

sys.exit(angel_totp())

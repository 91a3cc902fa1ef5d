"""The login check as a user of the official SDK (smartapi-python 1.5.5) writes it.

Benchmark only: run in benchmarks/.venv-sdk, never a dependency of the project.
"""

import os
import sys

import pyotp
from SmartApi import SmartConnect

env = os.environ
api = SmartConnect(api_key=env["ANGEL_API_KEY"], root=env["ANGEL_BASE_URL"])
session = api.generateSession(env["ANGEL_CLIENT_CODE"], env["ANGEL_PIN"],
                              pyotp.TOTP(env["TOTP_SECRET"]).now())
if session.get("status"):
    print(f"Login OK: {session['data']['name']} ({session['data']['clientcode']})")
    api.terminateSession(env["ANGEL_CLIENT_CODE"])
else:
    print(f"Login failed: {session.get('message')} ({session.get('errorcode')})")
    sys.exit(1)

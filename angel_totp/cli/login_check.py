"""The test_api_connection.py command: one login, a plain verdict."""

from __future__ import annotations

from . import console
from .console import EXIT_FAILED, EXIT_NO_ANSWER, EXIT_OK, CliError, fail, warn
from .settings import EnvSource

DESCRIPTION = """\
Log in to Angel One SmartAPI once with your API key, client code, PIN and a
fresh TOTP code, and say plainly whether it worked. On success it reads your
profile, prints "Login OK: <name> (<client code>)", and logs out again so no
session is left open. On failure it says why and what to do next, and it
always checks this computer's clock against Angel One's.

settings (the environment first, then the env file, default ./.env):
  ANGEL_API_KEY      your SmartAPI app's API key
  ANGEL_CLIENT_CODE  your Angel One client ID, e.g. A123456
  ANGEL_PIN          your Angel One login PIN (MPIN), not the trading password
  TOTP_SECRET        preferred: a fresh code is made at login time
  TOTP               a ready 6-digit code, used when there is no secret (lasts 30 s)
  ANGEL_BASE_URL     default https://apiconnect.angelone.in (or --base-url)

  A missing setting is asked for on a terminal (the API key and PIN hidden);
  without a terminal the run stops and names every missing one. No option
  takes a secret: arguments are visible to every user of the machine.
"""

EPILOG = """\
examples:
  python test_api_connection.py                  check the login with .env
  python test_api_connection.py --dry-run        show the requests, send nothing
  python test_api_connection.py --json           {"ok": true, "name": ..., ...}
  python test_api_connection.py --env-file prod.env --timeout 20

exit codes:
  0    login OK (or --dry-run)
  1    Angel One said no (wrong PIN, code, key...; see the hint)
  2    bad input or usage: a missing or invalid setting, a bad option
  3    no usable answer: network, DNS, TLS, timeout, rate limit, HTML or
       non-JSON reply, server error
  130  interrupted (Ctrl-C)

One login request per run, never a retry loop: Angel One allows one login
a second per account.
"""


def build_parser():
    parser = console.argument_parser("test_api_connection.py", DESCRIPTION, EPILOG)
    parser.add_argument("--env-file", metavar="PATH",
                        help="where to read settings the environment does not set "
                             "(default: .env in the current folder)")
    parser.add_argument("--base-url", metavar="URL",
                        help="the SmartAPI root (default: ANGEL_BASE_URL, else "
                             "https://apiconnect.angelone.in)")
    parser.add_argument("--timeout", metavar="SECONDS", default=10.0,
                        type=console.for_argparse(console.positive_seconds),
                        help="give up on a request after this long (default: 10)")
    parser.add_argument("--min-validity", metavar="SECONDS", default=5,
                        type=console.for_argparse(console.whole_seconds),
                        help="with TOTP_SECRET, wait for the next code if the current one "
                             "expires sooner than this (default: 5; 0 turns it off)")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object: ok, and errorcode, message, hint on "
                             "failure, or client_code, name on success; clock_offset_s "
                             "whenever the clock was measured")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the requests that would be sent, with the key, PIN "
                             "and code masked; send nothing")
    from . import __version__
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def parse_fast(argv: list[str]):
    """Options as argparse would parse them, or None to let argparse decide."""
    return console.parse_plain_options(
        argv, {"--json": "json", "--dry-run": "dry_run"},
        {"--env-file": ("env_file", str), "--base-url": ("base_url", str),
         "--timeout": ("timeout", console.positive_seconds),
         "--min-validity": ("min_validity", console.whole_seconds)},
        defaults={"env_file": None, "base_url": None, "timeout": 10.0, "min_validity": 5})


def parse_args(argv: list[str]):
    fast = parse_fast(argv)
    return fast if fast is not None else build_parser().parse_args(argv)


class Credentials:
    def __init__(self, api_key, client_code, pin, secret, totp, totp_source):
        self.api_key = api_key
        self.client_code = client_code
        self.pin = pin
        self.secret = secret        # TotpSecret, or None
        self.totp = totp            # a ready code, or None
        self.totp_source = totp_source


def gather_credentials(env: EnvSource) -> Credentials:
    """Every setting, asking on a terminal for what is missing."""
    from .secret import InvalidSecret, parse_secret

    found, missing = {}, []
    for key in ("ANGEL_API_KEY", "ANGEL_CLIENT_CODE", "ANGEL_PIN"):
        value, source = env.lookup(key)
        if value is None or not value.strip():
            missing.append(key if value is None else f"{key} (empty in {_where(source)})")
        else:
            found[key] = value.strip()
    secret = totp = None
    totp_source = ""
    secret_text, secret_source = env.lookup("TOTP_SECRET")
    if secret_text is not None and secret_text.strip():
        try:
            secret = parse_secret(secret_text)
        except InvalidSecret as error:
            fail(f"{secret_source} is not a valid TOTP secret: {error}",
                 hint="copy the secret again from smartapi.angelbroking.com/enable-totp")
        caution = secret.compatibility_warning()
        if caution:
            warn(caution)
    else:
        totp, totp_source = env.lookup("TOTP")
        if totp is not None and totp.strip():
            totp = totp.strip()
            if not (totp.isdigit() and len(totp) == 6):
                fail(f"{totp_source} is not a 6-digit code",
                     hint="set TOTP_SECRET instead, so a fresh code is made at login time")
        else:
            totp = None
            missing.append("TOTP_SECRET (or TOTP)")

    interactive = console.stdin_is_terminal()
    if missing and not interactive:
        fail("missing settings: " + ", ".join(missing),
             hint=f"set them in {env.path} (see .env.example) or the environment, "
                  "or run in a terminal to be asked")
    if interactive:
        if "ANGEL_API_KEY" not in found:
            found["ANGEL_API_KEY"] = console.ask_hidden("API key (input hidden): ",
                                                        "API key").strip()
        if "ANGEL_CLIENT_CODE" not in found:
            found["ANGEL_CLIENT_CODE"] = console.ask_line("Client code (e.g. A123456): ",
                                                          "client code")
        if "ANGEL_PIN" not in found:
            found["ANGEL_PIN"] = console.ask_hidden("PIN (input hidden): ", "PIN").strip()
    if secret is None and totp is None:
        totp = console.ask_line("6-digit code from your authenticator app: ", "code")
        totp_source = "the code you typed"
        if not (totp.isdigit() and len(totp) == 6):
            fail("the code must be 6 digits")
    elif totp is not None:
        warn(f"using {totp_source}: a code lasts only 30 s; set TOTP_SECRET so a "
             "fresh one is made at login time")
    pin = found["ANGEL_PIN"]
    if not pin.isdigit():
        warn("ANGEL_PIN is not all digits; Angel One wants your login PIN (MPIN), "
             "not the trading password")
    return Credentials(found["ANGEL_API_KEY"], found["ANGEL_CLIENT_CODE"].upper(), pin,
                       secret, totp, totp_source)


def _where(source: str) -> str:
    return source.split(" in ", 1)[1] if " in " in source else source


def resolve_base_url(args, env: EnvSource) -> str:
    from .smartapi import DEFAULT_BASE_URL
    from urllib.parse import urlsplit

    if args.base_url:
        url, origin = args.base_url, "--base-url"
    else:
        url, origin = env.lookup("ANGEL_BASE_URL")
        url = url if url and url.strip() else DEFAULT_BASE_URL
    url = url.strip()
    try:
        parts = urlsplit(url)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        valid = False
    if not valid:
        fail(f"{origin} is not an http(s) URL", hint=f"for example {DEFAULT_BASE_URL}")
    if parts.scheme == "http" and parts.hostname not in ("localhost", "::1") \
            and not parts.hostname.startswith("127."):
        warn(f"{origin} uses plain http: the PIN and API key would cross the network "
             "unencrypted; use https")
    return url


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    env = EnvSource(args.env_file)
    base_url = resolve_base_url(args, env)
    creds = gather_credentials(env)

    from .smartapi import SmartApi
    # A dry run must not even resolve the host, so it shows no local IP.
    api = SmartApi(base_url, creds.api_key, args.timeout, probe_network=not args.dry_run)
    if args.dry_run:
        return dry_run(api, creds)

    totp = creds.totp
    if creds.secret is not None:
        from .codes import check_min_validity, fresh_code
        try:
            check_min_validity(args.min_validity, creds.secret.period)
        except ValueError as error:
            fail(str(error))
        totp = fresh_code(creds.secret, args.min_validity,
                          on_wait=console.waiting_note(args.min_validity)).totp
    report = Report(args.json)
    return login_once(api, creds, totp, report)


def dry_run(api, creds: Credentials) -> int:
    from .smartapi import masked
    import json

    placeholder = "<token from the login reply>"
    requests = [api.login_request(creds.client_code, creds.pin, creds.totp or "000000"),
                api.profile_request(placeholder),
                api.logout_request(placeholder, creds.client_code)]
    for request in requests:
        shown = masked(request)
        print(f"{shown.method} {shown.url}")
        for name, value in shown.headers.items():
            print(f"  {name}: {value}")
        if shown.body is not None:
            print(f"  {json.dumps(shown.body)}")
        print()
    print("--dry-run: nothing was sent")
    return EXIT_OK


class Report:
    """Prints the verdict as text or as one JSON object."""

    def __init__(self, as_json: bool):
        self.as_json = as_json

    def success(self, client_code, name, exchanges, clock, logged_out) -> int:
        from .diagnosis import clock_warning
        if self.as_json:
            self._json({"ok": True, "client_code": client_code, "name": name,
                        "exchanges": exchanges, "logged_out": logged_out}, clock)
        else:
            print(f"Login OK: {name} ({client_code})")
            if exchanges:
                print(f"exchanges: {', '.join(exchanges)}")
            if clock is not None:
                print(f"clock: {clock.describe()}")
            if logged_out:
                print("logged out: no session left open")
        warning = clock_warning(clock)
        if warning:
            warn(warning)
        return EXIT_OK

    def failure(self, diagnosis, clock, exit_code: int, prefix: str = "") -> int:
        from .diagnosis import clock_warning
        if self.as_json:
            self._json({"ok": False, "errorcode": diagnosis.errorcode,
                        "message": diagnosis.message,
                        "cause": prefix + diagnosis.cause, "hint": diagnosis.hint}, clock)
        else:
            console.report_error(CliError(prefix + diagnosis.cause, diagnosis.hint))
            warning = clock_warning(clock)
            if warning and diagnosis.errorcode != "AB1050":  # that hint has it already
                warn(warning)
        return exit_code

    def _json(self, payload: dict, clock) -> None:
        import json
        if clock is not None:
            payload["clock_offset_s"] = round(clock.estimate, 2)
            payload["clock_uncertainty_s"] = round(clock.uncertainty, 2)
        print(json.dumps(payload))


def login_once(api, creds: Credentials, totp: str, report: Report) -> int:
    """Exactly one login request; then profile and logout with its token."""
    from .smartapi import TransportError

    try:
        answer = api.send(api.login_request(creds.client_code, creds.pin, totp))
    except TransportError as error:
        return _transport_failure(api, error, report)
    if not answer.ok:
        return _refused(api, answer, report, "Angel One refused the login: ")
    token = answer.data.get("jwtToken") if isinstance(answer.data, dict) else None
    if not token:
        from .diagnosis import diagnose_transport
        return report.failure(diagnose_transport("BAD_REPLY", "the login reply had no token"),
                              _clock(api), EXIT_NO_ANSWER)

    profile = transport_error = None
    try:
        try:
            profile = api.send(api.profile_request(token))
        except TransportError as error:
            transport_error = error
    finally:
        # Even after a failed profile or Ctrl-C: leave no session open.
        logged_out = _logout(api, token, creds.client_code)
    prefix = "login worked, but reading the profile failed: "
    if transport_error is not None:
        return _transport_failure(api, transport_error, report, prefix)
    if not profile.ok:
        return _refused(api, profile, report, prefix)
    data = profile.data if isinstance(profile.data, dict) else {}
    name = str(data.get("name") or "(no name in the profile)").strip()
    client_code = str(data.get("clientcode") or creds.client_code)
    exchanges = [str(e) for e in data.get("exchanges") or [] if e]
    return report.success(client_code, name, exchanges, _clock(api), logged_out)


def _logout(api, token: str, client_code: str) -> bool:
    from .smartapi import TransportError
    try:
        answer = api.send(api.logout_request(token, client_code))
    except TransportError as error:
        warn(f"could not log out ({error.errorcode.lower().replace('_', ' ')}); "
             "the session will expire on its own")
        return False
    if not answer.ok:
        warn(f"could not log out ({answer.errorcode} {answer.message}); "
             "the session will expire on its own")
        return False
    return True


def _clock(api):
    from .clock import combine, offset_from_reply
    bounds = [offset_from_reply(r.sent, r.received, r.date) for r in api.replies]
    return combine([b for b in bounds if b is not None])


def _refused(api, answer, report: Report, prefix: str) -> int:
    from .diagnosis import KNOWN_CODES, diagnose_refusal
    clock = _clock(api)
    diagnosis = diagnose_refusal(answer.errorcode, answer.message, clock)
    if diagnosis.errorcode in KNOWN_CODES:  # unknown codes quote Angel One already
        said = f"{diagnosis.errorcode} {diagnosis.message}".strip()
        diagnosis.cause = f"{diagnosis.cause} ({said})"
    return report.failure(diagnosis, clock, EXIT_FAILED, prefix)


def _transport_failure(api, error, report: Report, prefix: str = "") -> int:
    from .diagnosis import diagnose_transport
    if error.reply is not None:
        api.replies.append(error.reply)
    detail = error.detail
    if error.errorcode == "TIMEOUT":
        detail = f"{api.timeout:g} s timeout"
    return report.failure(diagnose_transport(error.errorcode, detail), _clock(api),
                          EXIT_NO_ANSWER, prefix)


def run() -> int:
    return console.run(main)

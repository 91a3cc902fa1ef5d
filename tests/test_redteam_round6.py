"""Red team, round six: what the deletion pass of issue 14 (docstrings, merged helpers,
inlined classes) lost that no test pinned. Each test does what broke; where the old code
(e7f3ca5) behaved otherwise, the test pins the old behaviour."""

from __future__ import annotations

import copy
import os
import pickle
import sys
from collections.abc import Callable

import pytest
from conftest import ANGEL_SECRET, API_KEY, CLIENT_CODE, PIN, assert_no_plain_credentials
from test_redteam_net import CREDENTIALS, DONE, LOGIN_OK, PROFILE_OK, Scripted

import angel_totp
from angel_totp import Hidden, InvalidInputError
from angel_totp import session as session_module
from angel_totp.connection import Connection, TransportError
from angel_totp.protocol import DEFAULT_BASE_URL, check_base_url

PACKAGE = os.path.dirname(angel_totp.__file__)


def interrupted_at_every_line(call: Callable[[], object],
                              where: str | tuple[str, ...] = PACKAGE,
                              functions: frozenset[str] | None = None) -> list[BaseException]:
    """Ctrl-C at each line the library runs in ``call`` (in files under ``where``, in
    ``functions`` if given), one run per line, counted, not timed: the errors, their
    tracebacks from the library's first frame on."""
    errors: list[BaseException] = []
    at = 1
    while True:
        count = 0

        def local(frame, event, arg, at=at):  # type: ignore[no-untyped-def]
            nonlocal count
            if event == "line":
                count += 1
                if count == at:
                    sys.settrace(None)
                    raise KeyboardInterrupt
            return local

        def start(frame, event, arg):  # type: ignore[no-untyped-def]
            code = frame.f_code
            wanted = code.co_filename.startswith(where) and (
                functions is None or code.co_name in functions)
            return local if wanted else None

        sys.settrace(start)
        try:
            call()
        except KeyboardInterrupt as error:
            tb = error.__traceback__
            while tb is not None and not tb.tb_frame.f_code.co_filename.startswith(PACKAGE):
                tb = tb.tb_next
            errors.append(error.with_traceback(tb))
        finally:
            sys.settrace(None)
        if count < at:  # ran to the end: every line had its Ctrl-C
            return errors
        at += 1


# The base URL: the one rule (check_setting) lost the type check and the hint.

@pytest.mark.time_bound(10)
def test_a_base_url_that_is_not_text_fails_the_request_not_the_constructor():
    # Connection's promise: only a bad timeout raises in the constructor; an unusable
    # URL is INVALID_REQUEST from the first request. 123 raised AttributeError.
    connection = Connection(123, timeout=1)  # type: ignore[arg-type]
    with pytest.raises(TransportError) as raised:
        connection.request("GET", "/", [])
    assert raised.value.errorcode == "INVALID_REQUEST"
    with pytest.raises(InvalidInputError, match="must be text"):
        check_base_url(None)  # type: ignore[arg-type]


@pytest.mark.time_bound(10)
def test_a_base_url_with_a_space_is_answered_with_an_example_url():
    with pytest.raises(InvalidInputError) as raised:
        check_base_url("https://api connect.angelone.in")
    assert raised.value.hint == f"for example {DEFAULT_BASE_URL}"
    assert "space" in raised.value.message


# Credentials: a Hidden that holds no text.

@pytest.mark.time_bound(10)
@pytest.mark.parametrize("call", [angel_totp.login, angel_totp.daily_login])
def test_a_client_code_hidden_around_a_number_is_invalid_input(call, tmp_path):
    extra = {"store": str(tmp_path / "s.json")} if call is angel_totp.daily_login else {}
    with pytest.raises(InvalidInputError, match="client_code"):
        call(API_KEY, Hidden(5), PIN, ANGEL_SECRET,  # type: ignore[arg-type]
             base_url="http://127.0.0.1:9", timeout=0.5, **extra)


# Ctrl-C while the secret is parsed: its frames hold the text.

@pytest.mark.time_bound(30)
def test_ctrl_c_anywhere_in_parsing_a_secret_leaves_it_in_no_frame():
    errors = interrupted_at_every_line(
        lambda: angel_totp.code_at(Hidden(ANGEL_SECRET), 1111111109),
        os.path.join(PACKAGE, "secret.py"))
    assert len(errors) > 10
    for error in errors:
        assert_no_plain_credentials(error, ANGEL_SECRET)
    uri = f"otpauth://totp/Angel%20One:{CLIENT_CODE}?secret={ANGEL_SECRET}&digits=8"
    errors = interrupted_at_every_line(lambda: angel_totp.parse_secret(Hidden(uri)),
                                       os.path.join(PACKAGE, "secret.py"))
    for error in errors:
        assert_no_plain_credentials(error, ANGEL_SECRET)


# Errors that cross a process boundary (a bot's worker pool pickles them) or are copied.

@pytest.mark.time_bound(10)
@pytest.mark.parametrize("copy_of", [copy.copy, lambda error: pickle.loads(pickle.dumps(error))])
def test_a_copied_or_unpickled_missing_setting_error_says_what_is_missing(copy_of):
    # Without AngelTotpError.__str__, str() came from args, which the copy rebuilds
    # through __init__(names=message): "missing settings: m, i, s, s, ..."
    for error in (angel_totp.MissingSettingError(["ANGEL_PIN", "TOTP_SECRET"]),
                  angel_totp.MissingSecretError(["TOTP_SECRET"], "TOTP_SECRET is not set",
                                                "set it")):
        again = copy_of(error)
        assert str(again) == str(error) == error.message
        assert again.names == error.names and again.hint == error.hint


@pytest.mark.time_bound(10)
def test_a_login_error_survives_a_worker_pool():
    # A bot that logs in from a ProcessPoolExecutor gets the error pickled back; a
    # LoginError could not be rebuilt (TypeError), which breaks the whole pool.
    for error in (angel_totp.LoginRefusedError("AB1050", "Invalid totp", "the code was refused",
                                               "wait for the next code", stage="login"),
                  angel_totp.NoAnswerError("TIMEOUT", "", "no reply", "try again",
                                           stage="profile", proxy_variable="HTTPS_PROXY")):
        again = pickle.loads(pickle.dumps(error))
        assert type(again) is type(error) and str(again) == str(error)
        assert vars(again) == vars(error)


# Ctrl-C while a reply is read: the frames that read it hold the session tokens.

@pytest.mark.time_bound(50)
def test_ctrl_c_anywhere_in_reading_the_login_replies_leaves_no_token_in_a_frame():
    def log_in() -> None:
        session_module._last_steps.clear()  # each run its own login: no wait for a step
        with Scripted(LOGIN_OK, PROFILE_OK, DONE) as server:
            angel_totp.login(API_KEY, CLIENT_CODE, PIN, ANGEL_SECRET, base_url=server.url,
                             timeout=5, min_validity=0, _keep_open=True).logout()

    reading = frozenset({"_exchange", "_read_reply", "readinto", "recv_into", "header", "date",
                         "read_reply", "_text", "read_tokens", "check_tokens", "read_profile"})
    errors = interrupted_at_every_line(
        log_in, (os.path.join(PACKAGE, "protocol.py"), os.path.join(PACKAGE, "connection.py")),
        reading)
    assert len(errors) > 100
    for error in errors:
        assert_no_plain_credentials(error, *CREDENTIALS)


# Ctrl-C while an env file is parsed: the frames that parse it hold its text.

@pytest.mark.time_bound(30)
def test_ctrl_c_anywhere_in_parsing_an_env_file_leaves_its_text_in_no_frame(tmp_path):
    from angel_totp.envfile import read_env_file
    path = tmp_path / ".env"
    path.write_text(f"ANGEL_API_KEY={API_KEY}\nANGEL_PIN={PIN}\nTOTP_SECRET={ANGEL_SECRET}\n")
    parsing = frozenset({"_parsed", "_parse_checked", "_regex_steps", "_parse", "<genexpr>",
                         "_expanded"})

    def read_values() -> None:
        found = read_env_file(path)
        assert found is not None
        found.values({})

    errors = interrupted_at_every_line(read_values, os.path.join(PACKAGE, "envfile.py"),
                                       parsing)
    assert len(errors) > 10
    for error in errors:
        assert_no_plain_credentials(error, API_KEY, PIN, ANGEL_SECRET)


# A TLS record that fails its check after the handshake: the detail said TLS, and lost it.

@pytest.mark.time_bound(10)
def test_a_broken_tls_record_in_a_reply_is_named_a_tls_failure():
    import socket
    import ssl
    import threading

    from hostile_server import CERT, KEY

    listener = socket.create_server(("127.0.0.1", 0))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(CERT, KEY)
    done = threading.Event()

    def serve() -> None:
        sock, _ = listener.accept()
        with context.wrap_socket(sock, server_side=True) as tls:
            tls.recv(65536)
            os.write(tls.fileno(), b"\x17\x03\x03\x00\x20" + bytes(32))  # fails its MAC
            done.wait(5)

    threading.Thread(target=serve, daemon=True).start()
    url = f"https://localhost:{listener.getsockname()[1]}"
    try:
        trusted = ssl.create_default_context(cafile=str(CERT))
        with Connection(url, timeout=5, tls_context=trusted) as connection, \
                pytest.raises(TransportError) as raised:
            connection.request("GET", "/", [])
    finally:
        done.set()
        listener.close()
    assert raised.value.errorcode == "NETWORK"
    assert raised.value.detail.startswith("the TLS connection failed (")

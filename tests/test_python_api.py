"""The Python API a bot imports: fresh codes from a secret or the env file."""

from __future__ import annotations

import pyotp
import pytest
from conftest import ANGEL_SECRET, RFC_SHA1

import angel_totp
from angel_totp import (
    Code,
    EnvFileError,
    InvalidSecretError,
    MissingSecretError,
    code_from_env,
    fresh_code,
    parse_secret,
)


def test_public_names_are_importable_from_the_package():
    for name in angel_totp.__all__:
        assert getattr(angel_totp, name) is not None
    with pytest.raises(AttributeError):
        angel_totp.no_such_thing  # noqa: B018 - the lookup is the test


def test_fresh_code_from_any_accepted_form():
    at = lambda: 1_700_000_005.0  # noqa: E731 - a fixed clock
    expected = pyotp.TOTP(ANGEL_SECRET).at(1_700_000_005)
    for form in (ANGEL_SECRET, ANGEL_SECRET.lower(), parse_secret(ANGEL_SECRET),
                 f"otpauth://totp/Angel?secret={ANGEL_SECRET}"):
        code = fresh_code(form, 0, clock=at)
        assert isinstance(code, Code) and code.totp == expected


def test_fresh_code_honours_min_validity():
    now = [1_000_000_048.0]  # 2 s left
    code = fresh_code(ANGEL_SECRET, 5, clock=lambda: now[0],
                      sleep=lambda s: now.__setitem__(0, now[0] + s))
    assert code.valid_from == 1_000_000_050 and code.valid_for >= 5


def test_code_from_env_prefers_the_environment(tmp_path, monkeypatch):
    env_file = tmp_path / ".env"
    env_file.write_text(f"TOTP_SECRET={ANGEL_SECRET}\n")
    monkeypatch.setenv("TOTP_SECRET", RFC_SHA1)
    code = code_from_env(env_file, min_validity=0)
    assert code.totp == pyotp.TOTP(RFC_SHA1).at(code.at)


def test_code_from_env_reads_the_file(tmp_path, monkeypatch):
    monkeypatch.delenv("TOTP_SECRET", raising=False)
    env_file = tmp_path / ".env"
    env_file.write_text(f"# bot settings\nexport TOTP_SECRET='{ANGEL_SECRET}'  # from Angel\n")
    code = code_from_env(env_file, min_validity=0)
    assert code.totp == pyotp.TOTP(ANGEL_SECRET).at(code.at)
    monkeypatch.chdir(tmp_path)
    assert code_from_env(min_validity=0).totp in {code.totp, pyotp.TOTP(ANGEL_SECRET).now()}


def test_code_from_env_errors_never_contain_the_secret(tmp_path, monkeypatch):
    monkeypatch.delenv("TOTP_SECRET", raising=False)
    with pytest.raises(MissingSecretError) as missing:
        code_from_env(tmp_path / "absent.env")
    assert str(missing.value) == ("TOTP_SECRET is not set in the environment or "
                                  f"{tmp_path / 'absent.env'}")
    bad = ANGEL_SECRET[:5] + "1" + ANGEL_SECRET[6:]
    (tmp_path / ".env").write_text(f"TOTP_SECRET={bad}\n")
    with pytest.raises(InvalidSecretError) as invalid:
        code_from_env(tmp_path / ".env")
    assert bad not in str(invalid.value) and "character 6" in str(invalid.value)
    (tmp_path / ".env").write_bytes(b"TOTP_SECRET='unclosed\n")
    with pytest.raises(EnvFileError):
        code_from_env(tmp_path / ".env")


def test_code_from_env_without_a_file(monkeypatch):
    monkeypatch.delenv("TOTP_SECRET", raising=False)
    with pytest.raises(MissingSecretError, match="not set in the environment$"):
        code_from_env(None)


def test_readme_example_passes_the_code_to_generate_session(tmp_path, monkeypatch):
    """The README's bot example, with a stand-in for SmartConnect."""
    monkeypatch.setenv("TOTP_SECRET", ANGEL_SECRET)
    received = {}

    class SmartConnect:  # the SDK's signature: generateSession(clientCode, password, totp)
        def __init__(self, api_key):
            pass

        def generateSession(self, clientCode, password, totp):
            received["totp"] = totp
            return {"status": True}

    code = code_from_env()
    SmartConnect(api_key="key").generateSession("A123456", "1234", code.totp)
    assert pyotp.TOTP(ANGEL_SECRET).verify(received["totp"], valid_window=1)
    assert code.valid_for >= 5


def test_readme_bot_logs_in_hands_its_tokens_to_the_sdk_and_logs_out(standin, workdir, capfd):
    """The README's bot, with a stand-in for the SDK's SmartConnect: no file, no output."""
    from conftest import API_KEY, CLIENT_CODE, PIN
    (workdir / ".env").write_text(f"ANGEL_API_KEY={API_KEY}\nANGEL_CLIENT_CODE={CLIENT_CODE}\n"
                                  f"ANGEL_PIN={PIN}\nTOTP_SECRET={ANGEL_SECRET}\n"
                                  f"ANGEL_BASE_URL={standin.url}\n")
    before = sorted(p.name for p in workdir.iterdir())
    handed: dict[str, str] = {}

    class SmartConnect:  # the SDK's setters, as smartConnect.py 1.5.5 has them
        def __init__(self, api_key):
            handed["api_key"] = api_key

        def setAccessToken(self, token):  # noqa: N802 - the SDK's names
            handed["access"] = token

        def setRefreshToken(self, token):  # noqa: N802
            handed["refresh"] = token

        def setFeedToken(self, token):  # noqa: N802
            handed["feed"] = token

        def setUserId(self, client_code):  # noqa: N802
            handed["user"] = client_code

    settings = angel_totp.Settings()
    with angel_totp.login_from_env(server_time=True, min_validity=0) as session:
        smart_api = SmartConnect(api_key=settings.value("ANGEL_API_KEY"))
        smart_api.setAccessToken(session.jwt_token)
        smart_api.setRefreshToken(session.refresh_token)
        smart_api.setFeedToken(session.feed_token)
        smart_api.setUserId(session.client_code)
        assert standin.sessions == {handed["access"]}  # a live session, for the SDK's orders
    assert handed["api_key"] == API_KEY and handed["user"] == CLIENT_CODE
    assert handed["refresh"] and handed["feed"]
    assert session.logged_out and standin.sessions == set()
    assert capfd.readouterr() == ("", "")
    assert sorted(p.name for p in workdir.iterdir()) == before  # no logs/ folder

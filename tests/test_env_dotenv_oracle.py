"""The installed python-dotenv is the oracle: every env file reads and rewrites as it reads it.

Inputs: python-dotenv's own test texts (tests/test_parser.py and tests/test_main.py of
theskumar/python-dotenv) and the cases of issue 14, in data/dotenv_inputs.json, each in
variants (CRLF, a byte-order mark, ``export``, with and without a final newline) and with
TOTP absent, first, or last and quoted with a comment. Run against 1.0.0 and the newest
by .ci/run.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from dotenv.main import DotEnv
from dotenv.parser import parse_stream

from angel_totp import envfile
from angel_totp.errors import EnvFileError

INPUTS = json.loads((Path(__file__).parent / "data" / "dotenv_inputs.json").read_text())
VARIANTS = {
    "as is": lambda text: text,
    "final newline": lambda text: text + "\n",
    "no final newline": lambda text: text.rstrip("\r\n"),
    "crlf": lambda text: re.sub(r"\r?\n", "\r\n", text) + "\r\n",
    "bom": lambda text: "\ufeff" + text,
    "export": lambda text: re.sub(r"(?m)^(?=[A-Za-z])", "export ", text),
}
PLACES = {
    "absent": lambda text, nl: text,
    "first": lambda text, nl: "TOTP=000000" + nl + text,
    "last": lambda text, nl: (text + nl if text and not text.endswith(("\n", "\r")) else text)
    + "TOTP='000000' # code",
}


def dotenv_reads(path: Path) -> tuple[dict, bool]:
    """What load_dotenv() loads from ``path``, and whether a statement was skipped."""
    with open(path, encoding="utf-8") as stream:
        skipped = any(binding.error for binding in parse_stream(stream))
    return dict(DotEnv(path, encoding="utf-8", interpolate=True, override=False).dict()), skipped


# One test per variant and place, over every input: a test each costs more than the check.
@pytest.mark.time_bound(60)
@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("place", PLACES)
def test_reads_and_rewrites_as_the_installed_dotenv(tmp_path, variant, place):
    for number, text in enumerate(INPUTS):
        folder = tmp_path / str(number)
        folder.mkdir()
        try:
            _reads_and_rewrites_as_dotenv(folder, text, variant, place)
        except AssertionError as failed:
            raise AssertionError(f"input {number} ({text!r}): {failed}") from None


def _reads_and_rewrites_as_dotenv(tmp_path, text, variant, place):
    nl = "\r\n" if variant == "crlf" else "\n"
    old = PLACES[place](VARIANTS[variant](text), nl)
    path = tmp_path / ".env"
    path.write_bytes(old.encode())
    expected, skipped = dotenv_reads(path)
    if skipped:  # python-dotenv would skip a statement: refused, untouched
        for attempt in (envfile.read_env_file,
                        lambda p: envfile.update_env_file(p, lambda c: ({"TOTP": "1"}, 1e99))):
            with pytest.raises(EnvFileError) as caught:
                attempt(path)
            assert caught.value.reason == "syntax"
        assert path.read_bytes() == old.encode()
        return
    found = envfile.read_env_file(path)
    assert found is not None and found.values() == expected

    result = envfile.update_env_file(path, lambda current: ({"TOTP": "654321"}, 1e99))
    new = path.read_bytes().decode()
    after, skipped = dotenv_reads(path)
    assert not skipped and after == {**expected, "TOTP": "654321"}
    assert result.written["TOTP"].reveal() == "654321"
    if "TOTP" in expected:  # only that value token changed, quotes and comment kept
        assert new == old.replace("TOTP=000000", "TOTP=654321").replace(
            "TOTP='000000'", "TOTP='654321'")
    else:  # appended, in the file's own line ending; nothing else touched
        assert new.startswith(old) and new[len(old):].strip("\r\n") == "TOTP=654321"


@pytest.mark.parametrize("value,storable", [
    ("JBSWY3DPEHPK3PXP", True), ("otpauth://totp/A:b?secret=JBSW&issuer=A", True),
    ("a'b\"c\\d #e", True), ("${HOME}", False), ("x\ny", True),
])
def test_can_store_says_what_dotenv_reads_back(tmp_path, value, storable):
    assert envfile.can_store(value) is storable
    if storable:
        path = tmp_path / ".env"
        path.write_text("A=1\n")
        envfile.update_env_file(path, lambda current: ({"TOTP_SECRET": value}, 1e99))
        assert dotenv_reads(path)[0]["TOTP_SECRET"] == value

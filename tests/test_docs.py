"""The README and docs/: every relative link resolves, the README stays short, the
reference names every option and public name, and every example runs as written.

Examples are the fenced blocks. ``sh`` blocks run whole in bash, ``console``
blocks are transcripts (``$ command`` lines, then what it prints, compared with
numbers blanked), ``python`` blocks run in Python. They run in a folder like a
checkout: the two scripts, ``.env.example``, and the README's own ``.env`` block
as ``.env`` (its made-up secret and credentials), with ``ANGEL_BASE_URL`` pointing
at the stand-in SmartAPI on 127.0.0.1. A block that cannot run here (it needs
the network, Windows, another program) is preceded in the page by
``<!-- not-run: the reason -->``. ``text``, ``dotenv`` and ``json`` blocks are
shown output or data, not examples.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest
from conftest import ROOT, assert_clean_output, assert_no_leak, clean_env

README = ROOT / "README.md"
PAGES = [README, ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]
README_LIMIT = 12 * 1024

RUN = {"sh", "console", "python"}
NOT_CODE = {"text", "dotenv", "json"}
NOT_RUN = re.compile(r"<!--\s*not-run:\s*(.*?)\s*-->")
FENCE = re.compile(r"^```(\S*)\s*$")


class Block(NamedTuple):
    page: Path
    line: int
    lang: str
    text: str
    not_run: str | None  # the reason given, or None

    def __str__(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def fenced_blocks(page: Path) -> list[Block]:
    found: list[Block] = []
    lines = page.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        before = next((line for line in reversed(lines[:index]) if line.strip()), "")
        reason = NOT_RUN.fullmatch(before.strip())
        end = index + 1
        while end < len(lines) and lines[end] != "```":
            end += 1
        text = "\n".join(lines[index + 1:end]) + "\n"
        found.append(Block(page, index + 1, opening.group(1), text,
                           reason.group(1) if reason else None))
        index = end + 1
    return found


def prose(page: Path) -> str:
    """The page without its fenced blocks, and code spans blanked (no links there)."""
    text = re.sub(r"^```.*?^```$", "", page.read_text(encoding="utf-8"), flags=re.M | re.S)
    return re.sub(r"`[^`\n]*`", "`x`", text)


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """The anchors of a page's headings (a repeated heading gets -1, -2...)."""
    text = re.sub(r"^```.*?^```$", "", page.read_text(encoding="utf-8"), flags=re.M | re.S)
    seen: dict[str, int] = {}
    for heading in re.findall(r"^#{1,6}\s+(.*)$", text, flags=re.M):
        name = slug(heading)
        count = seen.get(name, 0)
        seen[name] = count + 1
        if count:
            seen[f"{name}-{count}"] = 1
    return set(seen)


ALL_BLOCKS = [block for page in PAGES for block in fenced_blocks(page)]
EXAMPLES = [block for block in ALL_BLOCKS if block.lang in RUN and block.not_run is None]


def test_readme_is_short_and_leads_to_the_manual() -> None:
    size = README.stat().st_size
    assert size <= README_LIMIT, f"README.md is {size} bytes, over {README_LIMIT}"
    assert "(docs/README.md)" in README.read_text(encoding="utf-8")


@pytest.mark.time_bound(10)
@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_relative_links_resolve(page: Path) -> None:
    for target in re.findall(r"\]\(([^)\s]+)\)", prose(page)):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        assert resolved.exists(), f"{page.name}: the link {target} leads nowhere"
        if anchor:
            assert resolved.suffix == ".md", f"{page.name}: {target}: an anchor in a non-page"
            assert anchor in anchors(resolved), f"{page.name}: {target}: no such heading"


def test_every_block_runs_or_says_why() -> None:
    for block in ALL_BLOCKS:
        if block.not_run is not None:
            assert block.not_run, f"{block}: a not-run mark needs its reason"
        else:
            assert block.lang in RUN | NOT_CODE, (
                f"{block}: a {block.lang or 'plain'} block is neither run by this test nor "
                "marked <!-- not-run: reason -->")


def test_every_public_name_is_documented() -> None:
    import angel_totp
    reference = (ROOT / "docs" / "python-api.md").read_text(encoding="utf-8")
    names = set(angel_totp.__all__) | {"daily_session"}
    missing = sorted(name for name in names if f"`{name}" not in reference)
    assert not missing, f"docs/python-api.md does not describe {missing}"


def test_the_changelog_has_this_version() -> None:
    import angel_totp
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert re.search(rf"^## \[{re.escape(angel_totp.__version__)}\] - \d{{4}}-\d\d-\d\d$",
                     changelog, flags=re.M), "CHANGELOG.md has no entry for this version"


@pytest.mark.parametrize("script, page", [("generate_totp.py", "generate.md"),
                                          ("test_api_connection.py", "login-check.md")])
def test_every_option_is_documented(script: str, page: str) -> None:
    shown = subprocess.run([sys.executable, str(ROOT / script), "--help"], capture_output=True,
                           text=True, env=clean_env(), timeout=30).stdout
    usage = shown.split("\n\n")[0]
    options = set(re.findall(r"(?<![\w-])(--?[a-z][a-z-]*)", usage))
    assert "--help" in shown and options
    reference = (ROOT / "docs" / page).read_text(encoding="utf-8")
    missing = sorted(option for option in options if f"`{option}" not in reference)
    assert not missing, f"docs/{page} does not describe {missing}"


# Running the examples.

def readme_env_file() -> str:
    """The README's .env example: the made-up settings every example runs with."""
    (block,) = [block for block in fenced_blocks(README) if block.lang == "dotenv"]
    return block.text


def readme_settings() -> dict[str, str]:
    from dotenv import dotenv_values
    values = dotenv_values(stream=io.StringIO(readme_env_file()))
    return {key: value for key, value in values.items() if value}


@pytest.fixture(scope="module")
def docs_standin():
    from smartapi_standin import StandIn
    settings = readme_settings()
    # Examples run one after another, each its own login: not what the rate limit is about.
    server = StandIn(api_key=settings["ANGEL_API_KEY"], client_code=settings["ANGEL_CLIENT_CODE"],
                     pin=settings["ANGEL_PIN"], secret=settings["TOTP_SECRET"], name="Jane Doe",
                     enforce_rate_limit=False, reject_reused_codes=False).start()
    yield server
    server.stop()


@pytest.fixture
def checkout(isolated: Path, docs_standin) -> tuple[Path, dict[str, str]]:
    """A folder like a checkout with the README's .env, and the environment to run in."""
    folder = isolated / "angel-totp"
    folder.mkdir()
    for name in ("generate_totp.py", "test_api_connection.py", ".env.example"):
        shutil.copy(ROOT / name, folder / name)
    env_file = folder / ".env"
    env_file.write_text(readme_env_file() + f"ANGEL_BASE_URL={docs_standin.url}\n")
    env_file.chmod(0o600)
    commands = isolated / "bin"
    commands.mkdir()
    # Wrappers, not symlinks: a link to a virtual environment's python is not in it.
    for name, script in (("python", ""), ("python3", ""), ("angel-totp", "generate_totp.py"),
                         ("angel-login-check", "test_api_connection.py")):
        wrapper = commands / name
        target = f' "{ROOT / script}"' if script else ""
        wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}"{target} "$@"\n')
        wrapper.chmod(0o755)
    env = clean_env(PATH=f"{commands}{os.pathsep}{os.environ.get('PATH', '')}",
                    PYTHONPATH=str(ROOT), XDG_STATE_HOME=str(isolated / "state"),
                    HOME=str(isolated))
    return folder, env


def comparable(lines: list[str]) -> list[str]:
    """Lines with what changes from run to run blanked: numbers, and the clock's side."""
    clock_side = re.compile(r"(\d+(\.\d+)? s (ahead of|behind)|in step with)")
    return [re.sub(r"\d+(\.\d+)?", "N", clock_side.sub("SIDE", line)).rstrip()
            for line in lines]


def transcript(text: str) -> list[tuple[str, list[str]]]:
    steps: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if line.startswith("$ "):
            steps.append((line[2:], []))
        else:
            assert steps, "a console block starts with a $ command"
            steps[-1][1].append(line)
    return steps


def fast_waits(command: str, env: dict[str, str]) -> dict[str, str]:
    """For the generator, a clock on which a wait for the next code passes at once."""
    if "generate_totp" not in command:
        return env
    import time
    return {**env, "PYTHONPATH": f"{ROOT / 'tests' / 'faults'}{os.pathsep}{ROOT}",
            "GEN_FAULT_CLOCK": f"{time.time():.3f}:100"}


def run_shell(command: str, folder: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-e", "-c", command], cwd=folder, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=40)


def shown_lines(result: subprocess.CompletedProcess) -> list[str]:
    """stdout, then stderr without the note about waiting for the next code (timing)."""
    from angel_totp.cli.waiting import NOTE_START
    notes = [line for line in result.stderr.splitlines() if not line.startswith(NOTE_START)]
    return result.stdout.splitlines() + notes


def assert_nothing_leaked(text: str, server) -> None:
    settings = readme_settings()
    assert "Traceback" not in text
    assert_clean_output(text)
    assert_no_leak(text, settings["TOTP_SECRET"], settings["ANGEL_API_KEY"])
    assert not re.search(rf"(?<!\d){settings['ANGEL_PIN']}(?!\d)", text), "the PIN was shown"
    for token in server.issued:
        assert token[-20:] not in text, "a session token was shown"


@pytest.mark.skipif(os.name == "nt" or shutil.which("bash") is None, reason="needs bash")
@pytest.mark.time_bound(45)
@pytest.mark.parametrize("block", EXAMPLES, ids=str)
def test_example_runs_as_written(block: Block, checkout, docs_standin) -> None:
    folder, env = checkout
    if "daily_session" in block.text:
        import angel_totp
        if not hasattr(angel_totp, "daily_session"):
            pytest.skip("angel_totp.daily_session is not in this branch yet")
    if block.lang == "console":
        for command, expected in transcript(block.text):
            result = run_shell(command, folder, fast_waits(command, env))
            assert result.returncode == 0, f"{block}: {command}: {result.stderr}"
            assert_nothing_leaked(result.stdout + result.stderr, docs_standin)
            assert comparable(shown_lines(result)) == comparable(expected), f"{block}: {command}"
    elif block.lang == "sh":
        result = run_shell(block.text, folder, fast_waits(block.text, env))
        assert result.returncode == 0, f"{block}: {result.stderr}"
        assert "Traceback" not in result.stderr
    else:
        (folder / "example.py").write_text(block.text)
        result = subprocess.run([sys.executable, "example.py"], cwd=folder, env=env,
                                stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                timeout=40)
        assert result.returncode == 0, f"{block}: {result.stderr}"
        assert_nothing_leaked(result.stdout + result.stderr, docs_standin)

"""Hostile input, refused: property-based tests over the request model, the catalog, the CLI and the MCP tools.

What the design does with each kind of hostile input (asserted below):
- an invalid value of any field: `InvalidRequestError` whose ``field`` is set and whose one-line message names
  it; the CLI prints ``seedance: <message>`` (one line, stderr) and exits 2; an MCP tool answers ``isError``
  with one line that names the argument. Never a traceback, never "unexpected error" / "internal error".
- legacy inline flags in a prompt (``--dur 99 --wm true``): refused (field ``prompt``), because providers
  would apply them with looser validation than ours; nothing is sent.
- control characters in a prompt: removed (newline and tab kept), surrounding whitespace stripped.
- ``@everyone`` and mention syntax: kept verbatim by the core (it is text to a video model); the Discord
  front end suppresses mentions when it echoes a prompt (tested there).
- 100 kB of text: refused by the catalog's per-model prompt limit, with a short message that does not echo it.
- local paths and loopback / private / link-local URLs: refused by ``check_url(public_only=True)`` and by the
  MCP server in HTTP mode; accepted over stdio and in the CLI, where the caller is the machine's own user.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import struct
import subprocess
import sys
import threading
import zlib
from collections import Counter
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from cli.app import main
from core import catalog
from core.config import Limits, Settings
from core.errors import InvalidRequestError
from core.inputs import check_url, image_input, media_input, validated_request
from core.models import ImageRole, VideoRequest
from tests.conftest import clean_environ

ROOT = Path(__file__).resolve().parents[2]
PROVIDERS = catalog.providers()
# Examples per surface, for docs/reliability.md: printed at the end of the session (tests/conftest.py).
INPUTS_TRIED: Counter[str] = Counter()
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# Strings that have broken other programs: empty, numbers at the edges, escapes, paths, URLs, mentions, formats.
EDGE_STRINGS = (
    "", " ", "\t", "-1", "0", "00", "5.5", "1e309", "99999999999999999999", "nan", "inf", "true", "null", "None",
    "16:9\n", "16:9 ", "٥", "５", "\x00", "\x1b[2J\x1b[H", "\u202eevil", "\ufeff", "\u200b", "\ud800",
    "../../etc/passwd", "/etc/passwd", "~/.ssh/id_rsa", "file:///etc/passwd", "http://127.0.0.1/x.png",
    "http://169.254.169.254/latest/meta-data", "@everyone", "<@123456789>", "' OR 1=1 --", "%s%n%x", "{0}{1}",
    "${HOME}", "$(id)", "`id`", "A" * 5000, "🦊" * 50, "e\u0301" * 20,
)
WEIRD_TEXT = st.one_of(st.sampled_from(EDGE_STRINGS), st.text(st.characters(exclude_categories=()), max_size=80))
# What an argv can carry: no NUL, no lone surrogates (bytes that are not UTF-8: see the subprocess tests).
ARGV_TEXT = st.one_of(
    st.sampled_from([s for s in EDGE_STRINGS if "\x00" not in s and "\ud800" not in s]),
    st.text(st.characters(exclude_characters="\x00", exclude_categories=["Cs"]), max_size=60),
)
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | WEIRD_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
FIELDS = ("prompt", "model", "resolution", "ratio", "duration", "generate_audio", "seed", "camera_fixed",
          "watermark", "return_last_frame", "service_tier", "draft", "execution_expires_after", "images", "videos",
          "audios")
IMAGE_DICTS = st.lists(st.fixed_dictionaries({"url": WEIRD_TEXT, "role": st.sampled_from(
    ["first_frame", "last_frame", "reference_image", "cover", ""])}), max_size=4)


def assert_one_line(text: str) -> None:
    assert text.strip(), "empty error"
    assert "\n" not in text.strip() and "\r" not in text, f"not one line: {text!r}"
    assert "Traceback" not in text and "unexpected error" not in text and "internal error" not in text, text


# -- the request model and the catalog ------------------------------------------------------------


def _check_refusal(exc: InvalidRequestError) -> None:
    assert exc.field, f"no field named: {exc}"
    assert_one_line(str(exc))
    assert exc.field.split(".")[0] in str(exc), f"{exc.field!r} not named in {str(exc)!r}"
    assert len(str(exc)) < 600


@PROPERTY
@given(field=st.sampled_from((*FIELDS, "bogus", "api_key", "__class__")), value=st.one_of(JSONISH, IMAGE_DICTS),
       provider=st.sampled_from(PROVIDERS))
def test_any_value_of_any_field_is_accepted_or_refused_naming_the_field(field: str, value: Any, provider: str) -> None:
    INPUTS_TRIED["request model + catalog"] += 1
    fields = {"prompt": "a red fox runs through snow", field: value}
    try:
        request = validated_request(fields)
        resolved = catalog.resolve(request, provider)
        unit, amount = catalog.estimate_cost(resolved, provider)
    except InvalidRequestError as exc:
        _check_refusal(exc)
        return
    assert unit in ("tokens", "credits") and amount >= 0
    json.loads(resolved.model_dump_json())  # what gets stored and sent always serialises


@PROPERTY
@given(prompt=st.text(st.characters(exclude_categories=()), max_size=300), provider=st.sampled_from(PROVIDERS))
def test_prompts_are_cleaned_of_control_characters_then_validated(prompt: str, provider: str) -> None:
    INPUTS_TRIED["prompts"] += 1
    request = VideoRequest(prompt=prompt)
    assert request.prompt == request.prompt.strip()
    assert all(ch in "\n\t" or ch.isprintable() for ch in request.prompt)  # no C0/C1, bidi overrides, surrogates
    request.prompt.encode("utf-8")  # lone surrogates are gone: the prompt can always be sent as JSON
    try:
        catalog.resolve(request, provider)
    except InvalidRequestError as exc:
        _check_refusal(exc)


INLINE_FLAGS = ("rs", "resolution", "rt", "ratio", "dur", "duration", "frames", "seed", "cf", "camerafixed",
                "camera_fixed", "wm", "watermark", "fps", "framespersecond")


@PROPERTY
@given(before=st.text(st.characters(exclude_categories=["C"]), max_size=40), flag=st.sampled_from(INLINE_FLAGS),
       upper=st.booleans(), value=st.sampled_from(["99", "true", "1080p", "21:9", "-1", "false", "24"]),
       sep=st.sampled_from([" ", "=", "  ", "\t"]), provider=st.sampled_from(PROVIDERS))
def test_inline_flags_in_a_prompt_are_refused(before: str, flag: str, upper: bool, value: str, sep: str,
                                               provider: str) -> None:
    INPUTS_TRIED["inline flags"] += 1
    flag = flag.upper() if upper else flag
    request = VideoRequest(prompt=f"{before} --{flag}{sep}{value}")
    with pytest.raises(InvalidRequestError) as caught:
        catalog.resolve(request, provider)
    assert caught.value.field == "prompt" and "inline flag" in str(caught.value)
    _check_refusal(caught.value)


@pytest.mark.parametrize("prompt", ["a cat -- running", "a cat—running", "use --- as a divider", "a--b", "--"])
def test_dashes_that_are_not_flags_pass(prompt: str) -> None:
    catalog.resolve(VideoRequest(prompt=f"a fox {prompt}"), "byteplus")


def test_mentions_are_kept_verbatim_by_the_core() -> None:
    prompt = "@everyone look: <@123456789> and @here dance"
    request = catalog.resolve(VideoRequest(prompt=prompt), "byteplus")
    assert request.prompt == prompt  # the Discord front end neutralises mentions when it echoes a prompt


@pytest.mark.parametrize("provider", PROVIDERS)
def test_100_kb_prompt_is_refused_without_echoing_it(provider: str) -> None:
    prompt = "a fox runs. " * 8534  # just over 100 kB
    with pytest.raises(InvalidRequestError) as caught:
        catalog.resolve(VideoRequest(prompt=prompt), provider)
    assert caught.value.field == "prompt" and "characters" in str(caught.value)
    assert len(str(caught.value)) < 200


def test_errors_never_carry_terminal_escapes() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        catalog.resolve(VideoRequest(prompt="a fox", ratio="\x1b[2J\x1b[31mred"), "byteplus")
    assert all(ch.isprintable() for ch in str(caught.value)), repr(str(caught.value))


# -- URLs and local paths ---------------------------------------------------------------------------


def _url_host(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    return f"[{address}]" if address.version == 6 else str(address)


def _is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """The rule: global unicast; an IPv6 address embedding an IPv4 one (mapped, 6to4, NAT64) is as public as it."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in ipaddress.ip_network("64:ff9b::/96"):
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            address = embedded
    return address.is_global and not address.is_multicast


@settings(max_examples=400, deadline=None)
@given(address=st.ip_addresses(), scheme=st.sampled_from(["http", "https"]), port=st.sampled_from(["", ":8080"]))
def test_public_only_urls_refuse_every_non_global_address(address: Any, scheme: str, port: str) -> None:
    INPUTS_TRIED["URLs (public_only)"] += 1
    url = f"{scheme}://{_url_host(address)}{port}/clip.mp4"
    public = _is_public(address)
    if public:
        check_url(url, field="reference_videos", public_only=True)
    else:
        with pytest.raises(InvalidRequestError) as caught:
            check_url(url, field="reference_videos", public_only=True)
        assert caught.value.field == "reference_videos" and "local or private" in str(caught.value)


PRIVATE_FORMS = (
    "http://127.0.0.1/", "http://127.1/", "http://0x7f000001/", "http://2130706433/", "http://0177.0.0.1/",
    "http://0/", "http://0.0.0.0/", "http://[::1]/", "http://[::]/", "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/", "http://localhost/", "http://LocalHost/", "http://a.b.localhost/",
    "http://user:pw@127.0.0.1/", "http://10.1.2.3/", "http://172.16.0.1/", "http://192.168.0.1/",
    "http://169.254.169.254/latest/meta-data/", "http://[fe80::1]/", "http://[fd00::1]/", "http://100.64.0.1/",
    "http://localhost./", "http://[64:ff9b::7f00:1]/", "http://[2002:7f00:1::]/", "http://[2002:a9fe:a9fe::]/",
    "http://127.0.0.1\\@example.com/", "http://example.com@127.0.0.1/",
)


@pytest.mark.parametrize("url", PRIVATE_FORMS)
@pytest.mark.parametrize("field", ["first_frame", "reference_images", "reference_videos", "reference_audios"])
def test_spelled_out_private_hosts_are_refused(url: str, field: str) -> None:
    INPUTS_TRIED["URLs (public_only)"] += 1
    with pytest.raises(InvalidRequestError) as caught:
        if field in ("reference_videos", "reference_audios"):
            media_input(url + "x.mp4", field=field, public_only=True)
        else:
            check_url(url + "x.png", field=field, public_only=True)
    assert caught.value.field == field


def test_fully_qualified_localhost_is_refused() -> None:
    with pytest.raises(InvalidRequestError):
        check_url("http://localhost./x.png", field="first_frame", public_only=True)


@PROPERTY
@given(value=WEIRD_TEXT)
def test_local_paths_are_refused_where_local_files_are_not_allowed(value: str) -> None:
    INPUTS_TRIED["image inputs (no local files)"] += 1
    assume(not value.startswith(("http://", "https://", "data:image/")))
    with pytest.raises(InvalidRequestError) as caught:
        image_input(value, role=ImageRole.FIRST_FRAME, field="first_frame", allow_local=False)
    assert caught.value.field == "first_frame"
    assert_one_line(str(caught.value))


@pytest.mark.parametrize("value", ["A" * 5000, "/" + "a/" * 3000, "~nonexistentuser/x.png", "a\x00b"])
def test_odd_local_paths_are_refused_not_crashed(value: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        image_input(value, role=ImageRole.FIRST_FRAME, field="first_frame", allow_local=True)
    assert caught.value.field == "first_frame"


# -- the CLI, in-process ------------------------------------------------------------------------------

CLI_OPTIONS = {  # option -> names an error about it may use
    "model": ("model",), "provider": ("provider",), "resolution": ("resolution",), "ratio": ("ratio",),
    "duration": ("duration",), "seed": ("seed",), "first-frame": ("first_frame", "first-frame", "images"),
    "last-frame": ("last_frame", "last-frame", "images"),
    "reference-image": ("reference_image", "reference-image", "images"),
    "reference-video": ("reference_video", "reference-video", "videos"),
    "reference-audio": ("reference_audio", "reference-audio", "audios"),
    "service-tier": ("service-tier", "service_tier"), "expires-after": ("expires-after", "execution_expires_after"),
}


@pytest.fixture
def cli_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    for key in list(os.environ):
        if key.startswith(("SEEDANCE_", "DISCORD_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("SEEDANCE_HOME", str(home))
    monkeypatch.setenv("SEEDANCE_SANDBOX_SPEED", "20")
    monkeypatch.setenv("SEEDANCE_USER", "cli:hostile")
    monkeypatch.setenv("SEEDANCE_MAX_RUNNING_PER_USER", "none")
    monkeypatch.setenv("SEEDANCE_MAX_TASKS_PER_DAY", "none")
    monkeypatch.chdir(tmp_path)  # relative "paths" hypothesis invents resolve in an empty folder
    return home


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_json_error_or_nothing(out: str, err: str) -> None:
    """stdout on an error: nothing, or (with --json) exactly the error as one JSON object."""
    if not out:
        return
    assert out.endswith("\n") and out.count("\n") == 1, out
    data = json.loads(out)
    assert set(data) == {"error"} and set(data["error"]) == {"code", "message"}, data
    assert data["error"]["message"] and "\n" not in data["error"]["message"] and err.startswith("seedance: ")


def assert_cli_refusal(code: int, out: str, err: str, names: tuple[str, ...]) -> None:
    assert code == 2, (code, err)
    assert_json_error_or_nothing(out, err)
    assert err.startswith("seedance: ") and err.endswith("\n")
    assert_one_line(err)
    assert any(name in err for name in names), f"none of {names} named in {err!r}"


@PROPERTY
@given(option=st.sampled_from(sorted(CLI_OPTIONS)), value=ARGV_TEXT)
def test_cli_option_values_are_accepted_or_refused_with_exit_2(
    cli_home: Path, capsys: pytest.CaptureFixture[str], option: str, value: str
) -> None:
    INPUTS_TRIED["CLI arguments (in-process)"] += 1
    code, out, err = run_cli(capsys, "estimate", "a red fox in snow", f"--{option}={value}", "--json")
    if code == 0:
        assert json.loads(out)["estimated"] >= 0 and err == ""
    else:
        assert_cli_refusal(code, out, err, (*CLI_OPTIONS[option], "argument", "unrecognized"))


@PROPERTY
@given(prompt=ARGV_TEXT)
def test_cli_prompts_are_cleaned_or_refused(cli_home: Path, capsys: pytest.CaptureFixture[str], prompt: str) -> None:
    INPUTS_TRIED["CLI prompts (in-process)"] += 1
    assume(not prompt.startswith("-"))  # that is an option, refused by the parser (covered below)
    code, out, err = run_cli(capsys, "generate", prompt, "--no-wait", "--json")
    if code == 0:
        task = json.loads(out)
        assert task["status"] in ("queued", "pending")
        assert all(ch in "\n\t" or ch.isprintable() for ch in task["prompt"])
    else:
        assert_cli_refusal(code, out, err, ("prompt",))


@pytest.mark.parametrize(("argv", "names"), [
    (["generate", "a cat --dur 99 --wm true", "--no-wait"], ("inline flag",)),
    (["generate", "a cat --rs 1080p", "--no-wait"], ("inline flag",)),
    (["generate", "a fox " * 17000, "--no-wait"], ("prompt",)),
    (["generate", "\x1b\x07\x00\u202e\u200b \x7f", "--no-wait"], ("prompt is empty",)),
    (["generate", "", "--no-wait"], ("prompt is empty",)),
    (["generate", "x", "--duration", "99"], ("duration",)),
    (["generate", "x", "--duration", "five"], ("duration",)),
    (["generate", "x", "--seed", "-2"], ("seed",)),
    (["generate", "x", "--first-frame", "/etc/passwd"], ("--first-frame",)),
    (["generate", "x", "--first-frame", "/nonexistent/x.png"], ("--first-frame",)),
    (["generate", "x", "--last-frame", "https://e.com/l.png"], ("images",)),
    (["generate", "x", "--reference-video", "/etc/passwd"], ("--reference-video",)),
    (["generate", "x", "--reference-audio", "ftp://e.com/a.mp3"], ("--reference-audio",)),
    (["generate", "x", "--provider", "evil"], ("provider",)),
    (["generate", "x", "--model", "gpt-4"], ("model",)),
    (["generate", "x", "--expires-after", "10"], ("--expires-after",)),
    (["history", "--limit", "0"], ("limit",)),
    (["history", "--limit", "1e9"], ("limit",)),
    (["status", "../../../etc/passwd", "--no-wait"], ("no task",)),
    (["status", "' OR 1=1 --", "--no-wait"], ("no task",)),
    (["cancel", "%", "--json"], ("no task",)),
    (["generate"], ("prompt", "arguments")),
    (["frobnicate"], ("invalid choice",)),
])
def test_cli_refuses_hostile_commands_with_one_line_and_exit_2(
    cli_home: Path, capsys: pytest.CaptureFixture[str], argv: list[str], names: tuple[str, ...]
) -> None:
    INPUTS_TRIED["CLI commands (in-process)"] += 1
    assert_cli_refusal(*run_cli(capsys, *argv), names)


def test_cli_keeps_mentions_and_strips_control_characters(cli_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "generate", "@everyone \x1b[31ma red\x07 fox\u202e\t", "--no-wait", "--json")
    assert code == 0
    assert json.loads(out)["prompt"] == "@everyone [31ma red fox"


def test_cli_usage_error_points_at_a_real_help_command(cli_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, _, err = run_cli(capsys, "frobnicate")
    assert "seedance seedance" not in err


# -- the CLI, as a subprocess -------------------------------------------------------------------------


def _cli(env: dict[str, str], *argv: str | bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "cli", *argv], cwd=ROOT, env=env, capture_output=True,
                          timeout=60, check=False)


@pytest.mark.parametrize("argv", [
    ["generate", "a cat --dur 99 --wm true", "--json"],
    ["generate", "A" * 100_000, "--json"],
    [b"generate", b"\xff\xfe\xfd", b"--json"],  # not UTF-8: arrives as surrogates, cleaned to nothing
    [b"estimate", b"x", b"--ratio", b"\xff\x1b[2J"],  # echoed in the error: must not crash the output
    ["estimate", "x", "--ratio", "\x1b]0;pwned\x07"],
    ["status", "does-not-exist", "--no-wait"],
])
def test_cli_subprocess_refuses_with_exit_2_and_no_traceback(tmp_path: Path, argv: list[str | bytes]) -> None:
    INPUTS_TRIED["CLI commands (subprocess)"] += 1
    proc = _cli(clean_environ(tmp_path / "home"), *argv)
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 2, err
    assert_json_error_or_nothing(proc.stdout.decode("utf-8"), err)
    assert proc.stdout == b"" or any(a in (b"--json", "--json") for a in argv)
    assert_one_line(err)


def test_cli_subprocess_refuses_inline_flags_before_anything_reaches_a_provider(tmp_path: Path) -> None:
    from tests.fakes import FakeArk

    with FakeArk("byteplus", api_key="sk-hostile-test") as fake:
        env = clean_environ(tmp_path / "home", SEEDANCE_PROVIDER="byteplus", SEEDANCE_API_KEY="sk-hostile-test",
                            SEEDANCE_BASE_URL=fake.base_url)
        proc = _cli(env, "generate", "a fox --dur 99 --wm true", "--json")
        assert proc.returncode == 2 and b"inline flag" in proc.stderr
        assert fake.requests == [] and fake.submits == 0


@pytest.mark.parametrize(("env", "needle"), [
    ({"SEEDANCE_PROVIDER": "nonsense"}, "unknown provider"),
    ({"SEEDANCE_PROVIDER": "byteplus"}, "needs an API key"),
    ({"SEEDANCE_MAX_DOWNLOAD_MB": "-5"}, "max_download_mb"),
    ({"SEEDANCE_CONFIG": "/nonexistent.toml"}, "does not exist"),
])
def test_cli_subprocess_bad_configuration_is_one_line_exit_2(tmp_path: Path, env: dict[str, str],
                                                             needle: str) -> None:
    INPUTS_TRIED["CLI commands (subprocess)"] += 1
    proc = _cli(clean_environ(tmp_path / "home", **env), "history")
    err = proc.stderr.decode()
    assert proc.returncode == 2 and needle in err
    assert_one_line(err)


# -- the MCP tools, in-process -------------------------------------------------------------------------


class McpRunner:
    """An in-process MCP `Client` on its own thread and loop, so synchronous hypothesis tests can call tools."""

    def __init__(self, server: Any) -> None:
        from mcp import Client

        self._client_cls = Client
        self._server = server
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="mcp-runner", daemon=True)
        self._thread.start()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._holder = asyncio.run_coroutine_threadsafe(self._hold(), self._loop)
        if not self._ready.wait(30):
            raise RuntimeError("the MCP client did not start")

    async def _hold(self) -> None:
        # One task enters and leaves the client: anyio requires it.
        self._stop = asyncio.Event()
        async with self._client_cls(self._server) as client:
            self.client = client
            self._ready.set()
            await self._stop.wait()

    def _run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(60)

    def call(self, tool: str, arguments: dict[str, Any]) -> Any:
        return self._run(self.client.call_tool(tool, arguments))

    def close(self) -> None:
        assert self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._holder.result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def _text(result: Any) -> str:
    return " ".join(getattr(block, "text", "") for block in result.content)


@pytest.fixture(scope="module")
def remote_user() -> Iterator[None]:
    """HTTP mode needs a verified bearer token; in-process calls have none, so the caller is fixed here."""
    from mcp_server.state import AppState

    original = AppState.current_user

    def current_user(self: AppState) -> str:
        return "mcp:remote-tester" if self.http else self.stdio_user

    AppState.current_user = current_user  # type: ignore[method-assign]
    yield
    AppState.current_user = original  # type: ignore[method-assign]


def _mcp(tmp: Path, *, http: bool) -> McpRunner:
    from mcp_server.server import build_server

    settings = Settings(home=tmp / "home", sandbox_speed=20, user="mcp:local-tester",
                        limits=Limits(max_running_per_user=None, max_tasks_per_day=None))
    return McpRunner(build_server(settings, http=http, expose_paths=not http))


@pytest.fixture(scope="module")
def stdio_mcp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[McpRunner]:
    runner = _mcp(tmp_path_factory.mktemp("mcp-stdio"), http=False)
    yield runner
    runner.close()


@pytest.fixture(scope="module")
def http_mcp(tmp_path_factory: pytest.TempPathFactory, remote_user: None) -> Iterator[McpRunner]:
    runner = _mcp(tmp_path_factory.mktemp("mcp-http"), http=True)
    yield runner
    runner.close()


MCP_ARGS = {  # argument -> names an error about it may use
    "model": ("model",), "resolution": ("resolution",), "ratio": ("ratio",), "duration": ("duration",),
    "generate_audio": ("generate_audio",), "first_frame": ("first_frame", "images"),
    "last_frame": ("last_frame", "images"), "reference_images": ("reference_images", "images"),
    "reference_videos": ("reference_videos", "videos"), "reference_audios": ("reference_audios", "audios"),
    "service_tier": ("service_tier",), "draft": ("draft",), "provider": ("provider",), "prompt": ("prompt",),
}


def assert_tool_refusal(result: Any, names: tuple[str, ...]) -> None:
    assert result.is_error
    text = _text(result)
    assert_one_line(text)
    assert any(name in text for name in names), f"none of {names} named in {text!r}"


@PROPERTY
@given(argument=st.sampled_from(sorted(MCP_ARGS)), value=JSONISH)
def test_mcp_estimate_accepts_or_refuses_naming_the_argument(stdio_mcp: McpRunner, argument: str,
                                                             value: Any) -> None:
    INPUTS_TRIED["MCP tool arguments"] += 1
    arguments = {"prompt": "a red fox in snow", argument: value}
    result = stdio_mcp.call("estimate_video_cost", arguments)
    if not result.is_error:
        assert result.structured_content["estimated"] >= 0
    else:
        assert_tool_refusal(result, MCP_ARGS[argument])


@PROPERTY
@given(prompt=st.text(st.characters(exclude_categories=["Cs"]), max_size=200), key=st.uuids())
def test_mcp_generate_cleans_or_refuses_prompts(stdio_mcp: McpRunner, prompt: str, key: Any) -> None:
    INPUTS_TRIED["MCP tool arguments"] += 1
    result = stdio_mcp.call("generate_video", {"prompt": prompt, "wait_seconds": 0, "request_id": str(key)})
    if result.is_error:
        assert_tool_refusal(result, ("prompt",))
    else:
        stored = result.structured_content["prompt"]
        assert all(ch in "\n\t" or ch.isprintable() for ch in stored)


@PROPERTY
@given(tool=st.sampled_from(["get_video_task", "cancel_video_task"]), task_id=JSONISH)
def test_mcp_task_ids_from_nowhere_are_refused(stdio_mcp: McpRunner, tool: str, task_id: Any) -> None:
    INPUTS_TRIED["MCP tool arguments"] += 1
    arguments: dict[str, Any] = {"task_id": task_id}
    if tool == "get_video_task":
        arguments["wait_seconds"] = 0
    assert_tool_refusal(stdio_mcp.call(tool, arguments), ("task",))


@PROPERTY
@given(argument=st.sampled_from(["status", "limit", "offset"]), value=JSONISH)
def test_mcp_list_arguments_are_checked(stdio_mcp: McpRunner, argument: str, value: Any) -> None:
    INPUTS_TRIED["MCP tool arguments"] += 1
    result = stdio_mcp.call("list_video_tasks", {argument: value})
    if result.is_error:
        assert_tool_refusal(result, (argument,))


def test_mcp_inline_flags_and_huge_prompts_are_refused(stdio_mcp: McpRunner) -> None:
    flagged = stdio_mcp.call("generate_video", {"prompt": "a cat --dur 99 --wm true", "wait_seconds": 0})
    assert_tool_refusal(flagged, ("inline flag",))
    huge = stdio_mcp.call("generate_video", {"prompt": "a fox " * 17000, "wait_seconds": 0})
    assert_tool_refusal(huge, ("prompt",))


LOCAL_PATHS = ("/etc/passwd", "/etc/hostname", "./x.png", "../secret.png", "~/.ssh/id_rsa", "C:\\Windows\\win.ini",
               "\\\\server\\share\\x.png", "x.png", "/proc/self/environ", "/dev/zero", "file:///etc/passwd")


@pytest.mark.parametrize("path", LOCAL_PATHS)
@pytest.mark.parametrize("argument", ["first_frame", "last_frame", "reference_images"])
def test_mcp_http_mode_refuses_local_paths(http_mcp: McpRunner, path: str, argument: str, tmp_path: Path) -> None:
    INPUTS_TRIED["MCP HTTP-mode inputs"] += 1
    value: Any = [path] if argument == "reference_images" else path
    arguments = {"prompt": "a fox", argument: value}
    if argument == "last_frame":
        arguments["first_frame"] = "https://example.com/first.png"
    result = http_mcp.call("estimate_video_cost", arguments)
    assert_tool_refusal(result, (argument,))
    text = _text(result)
    assert "local file paths are not accepted" in text or "not a valid http(s) URL" in text


@settings(max_examples=100, deadline=None)
@given(address=st.ip_addresses().filter(lambda a: not _is_public(a)),
       argument=st.sampled_from(["first_frame", "reference_images", "reference_videos", "reference_audios"]))
def test_mcp_http_mode_refuses_private_urls(http_mcp: McpRunner, address: Any, argument: str) -> None:
    INPUTS_TRIED["MCP HTTP-mode inputs"] += 1
    url = f"http://{_url_host(address)}/media"
    value: Any = url if argument == "first_frame" else [url]
    result = http_mcp.call("estimate_video_cost", {"prompt": "a fox", argument: value})
    assert_tool_refusal(result, (argument,))
    assert "local or private address" in _text(result)


def _png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + b"\x80\x40\x20" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def test_mcp_local_files_work_over_stdio_but_not_http(stdio_mcp: McpRunner, http_mcp: McpRunner,
                                                      tmp_path: Path) -> None:
    image = tmp_path / "first.png"
    image.write_bytes(_png(320, 320))
    args = {"prompt": "a fox", "first_frame": str(image)}
    assert not stdio_mcp.call("estimate_video_cost", args).is_error  # the caller's own machine
    assert_tool_refusal(http_mcp.call("estimate_video_cost", args), ("first_frame",))
    import base64

    data_url = "data:image/png;base64," + base64.b64encode(_png(320, 320)).decode()
    assert not http_mcp.call("estimate_video_cost", {"prompt": "a fox", "first_frame": data_url}).is_error

"""`Settings.from_env`: variables, the TOML file, one-line errors and keys that never show."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pytest

from core.config import Settings, default_user, local_user, local_user_aliases, login_name
from core.errors import ConfigError
from core.http import HttpClient
from core.providers import make_provider

KEY = "sk-config-secret-0123456789abcdef"
OTHER_KEY = "sk-other-secret-fedcba9876543210"
TOK_A, TOK_B = "tok-a-0123456789abcdef", "tok-b-0123456789abcdef"


def from_env(**env: str) -> Settings:
    return Settings.from_env(env)


def config_error(**env: str) -> str:
    with pytest.raises(ConfigError) as info:
        Settings.from_env(env)
    message = str(info.value)
    assert "\n" not in message and message.strip() == message
    assert "Traceback" not in message
    return message


def test_nothing_configured_means_the_sandbox() -> None:
    settings = from_env()
    assert settings.provider == "sandbox"
    assert settings.configured_providers() == ("sandbox",)
    assert settings.limits.max_running_per_user == 3 and settings.limits.max_tasks_per_day == 50
    assert settings.limits.daily_budget is None
    assert settings.db_path.name == "seedance.db" and settings.media_dir.name == "media"


def test_variables_are_parsed(tmp_path: Path) -> None:
    settings = from_env(
        SEEDANCE_PROVIDER=" BytePlus ",
        SEEDANCE_API_KEY=KEY,
        SEEDANCE_BASE_URL="http://127.0.0.1:9999/api/v3",
        SEEDANCE_MODEL="dreamina-seedance-2-0-260128",
        SEEDANCE_HOME=str(tmp_path),
        SEEDANCE_USER="cli:alice",
        SEEDANCE_SANDBOX_SPEED="20",
        SEEDANCE_MAX_DOWNLOAD_MB="50",
        SEEDANCE_MAX_RUNNING_PER_USER="2",
        SEEDANCE_MAX_TASKS_PER_DAY="none",
        SEEDANCE_DAILY_BUDGET="250000",
        SEEDANCE_PUBLIC_URL="https://studio.example",
        SEEDANCE_MCP_TOKENS=f"{TOK_A}=mcp:alice, {TOK_B} = mcp:bob",
        SEEDANCE_MCP_PORT="8123",
    )
    assert settings.provider == "byteplus"
    byteplus = settings.provider_settings("byteplus")
    assert byteplus.api_key is not None and byteplus.api_key.get_secret_value() == KEY
    assert byteplus.base_url == "http://127.0.0.1:9999/api/v3" and byteplus.model == "dreamina-seedance-2-0-260128"
    assert settings.home == tmp_path and settings.user == "cli:alice"
    assert settings.sandbox_speed == 20.0 and settings.max_download_mb == 50
    assert settings.limits.max_running_per_user == 2 and settings.limits.max_tasks_per_day is None
    assert settings.limits.daily_budget == 250000
    assert settings.public_url == "https://studio.example" and settings.mcp_port == 8123
    assert settings.mcp_tokens == {TOK_A: "mcp:alice", TOK_B: "mcp:bob"}
    assert settings.configured_providers() == ("byteplus",)


def test_a_toml_file_configures_several_providers_and_the_environment_wins(tmp_path: Path) -> None:
    config = tmp_path / "seedance.toml"
    config.write_text(
        f"""
provider = "byteplus"
api_key = "{KEY}"
max_download_mb = 100

[providers.apimart]
api_key = "{OTHER_KEY}"
model = "doubao-seedance-2.0"

[providers.acedata]
base_url = "http://127.0.0.1:1/acedata"

[limits]
max_running_per_user = 1
daily_budget = 1000

[mcp]
port = 9000
[mcp.tokens]
"long-random-token" = "mcp:alice"

[discord]
guild_id = 1234
"""
    )
    settings = from_env(SEEDANCE_CONFIG=str(config))
    assert settings.provider == "byteplus"
    assert settings.provider_settings("byteplus").api_key.get_secret_value() == KEY  # type: ignore[union-attr]
    assert settings.provider_settings("apimart").model == "doubao-seedance-2.0"
    # the default first, then every provider with a key; acedata has none
    assert settings.configured_providers() == ("byteplus", "apimart")
    assert settings.limits.max_running_per_user == 1 and settings.limits.daily_budget == 1000
    assert settings.mcp_tokens == {"long-random-token": "mcp:alice"} and settings.mcp_port == 9000
    assert settings.discord_guild_id == 1234 and settings.max_download_mb == 100

    overridden = from_env(SEEDANCE_CONFIG=str(config), SEEDANCE_API_KEY=OTHER_KEY, SEEDANCE_MAX_RUNNING_PER_USER="4")
    assert overridden.provider_settings("byteplus").api_key.get_secret_value() == OTHER_KEY  # type: ignore[union-attr]
    assert overridden.limits.max_running_per_user == 4 and overridden.limits.daily_budget == 1000

    switched = from_env(SEEDANCE_CONFIG=str(config), SEEDANCE_PROVIDER="apimart")
    assert switched.provider == "apimart" and switched.configured_providers()[0] == "apimart"


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"SEEDANCE_PROVIDER": "openai"}, "unknown provider 'openai'"),
        ({"SEEDANCE_PROVIDER": "byteplus"}, "SEEDANCE_API_KEY"),
        ({"SEEDANCE_PROVIDER": "apimart", "SEEDANCE_BASE_URL": "http://x"}, "needs an API key"),
        ({"SEEDANCE_MAX_RUNNING_PER_USER": "lots"}, "max_running_per_user"),
        ({"SEEDANCE_MAX_RUNNING_PER_USER": "-1"}, "max_running_per_user"),
        ({"SEEDANCE_DAILY_BUDGET": "-5"}, "daily_budget"),
        ({"SEEDANCE_SANDBOX_SPEED": "fast"}, "sandbox_speed"),
        ({"SEEDANCE_MCP_PORT": "99999"}, "mcp_port"),
        ({"SEEDANCE_MAX_DOWNLOAD_MB": "0"}, "max_download_mb"),
    ],
)
def test_bad_settings_are_one_line_config_errors(env: dict[str, str], words: str) -> None:
    assert words in config_error(**env)


def test_toml_problems_are_one_line_config_errors(tmp_path: Path) -> None:
    assert "does not exist" in config_error(SEEDANCE_CONFIG=str(tmp_path / "missing.toml"))
    broken = tmp_path / "broken.toml"
    broken.write_text('provider = "byteplus\n[limits\n')
    assert "not valid TOML" in config_error(SEEDANCE_CONFIG=str(broken))
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("colour = 'blue'\n")
    assert "colour" in config_error(SEEDANCE_CONFIG=str(unknown))
    typo = tmp_path / "typo.toml"
    typo.write_text(f"[providers.byteplus]\napi_kee = '{KEY}'\n")
    message = config_error(SEEDANCE_CONFIG=str(typo))
    assert "api_kee" in message and KEY not in message
    wrong_provider = tmp_path / "wrong.toml"
    wrong_provider.write_text(f"[providers.runway]\napi_key = '{KEY}'\n")
    message = config_error(SEEDANCE_CONFIG=str(wrong_provider))
    assert "unknown provider 'runway'" in message and KEY not in message


def test_keys_never_show_in_reprs_strings_or_dumps(tmp_path: Path) -> None:
    settings = from_env(SEEDANCE_PROVIDER="byteplus", SEEDANCE_API_KEY=KEY, DISCORD_TOKEN=OTHER_KEY,
                        SEEDANCE_HOME=str(tmp_path))
    shown = [repr(settings), str(settings), repr(settings.providers), str(settings.providers),
             settings.model_dump_json(), repr(settings.provider_settings("byteplus")), repr(settings.discord_token)]
    for text in shown:
        assert KEY not in text and OTHER_KEY not in text, text
    adapter = make_provider("byteplus", http=cast(HttpClient, None), api_key=KEY, base_url="http://127.0.0.1:1/api/v3")
    assert KEY not in repr(adapter) and KEY not in str(adapter)


def test_a_key_is_never_echoed_in_an_error(tmp_path: Path) -> None:
    message = config_error(SEEDANCE_PROVIDER="nonsense", SEEDANCE_API_KEY=KEY)
    assert KEY not in message


def test_default_user_names_the_front_end() -> None:
    assert default_user("cli").startswith("cli:") and len(default_user("cli")) > len("cli:")


# --- issue 11.13: SEEDANCE_MCP_TOKENS is split at the LAST "=", and bad tokens stop the start ----------

PADDED = "c2VlZGFuY2UtdG9rZW4tZm9yLWFsaWNl=="  # base64 with "=" padding


def test_a_base64_token_with_padding_maps_to_its_user() -> None:
    settings = from_env(SEEDANCE_MCP_TOKENS=f"{PADDED}=mcp:alice,{TOK_B}=mcp:bob,")
    assert settings.mcp_tokens == {PADDED: "mcp:alice", TOK_B: "mcp:bob"}


@pytest.mark.parametrize(
    ("tokens", "words"),
    [
        (f"{TOK_A}=mcp:alice,{TOK_A}=mcp:mallory", "repeats the token of user 'mcp:alice'"),
        (f"{TOK_A}=mcp:alice,{TOK_A}=mcp:alice", "repeats the token"),
        ("x=mcp:alice", "has 1 characters; use at least 16"),
        (f"{TOK_A}=mcp:alice,{TOK_B}", "2nd entry of SEEDANCE_MCP_TOKENS is not <token>=<user>"),
        (f"{TOK_A}=", "1st entry"),
        (f"={TOK_A}", "1st entry"),
        ("tok-with space-0123456789=mcp:alice", "not printable ASCII"),
        ("tok-with-é-0123456789abc=mcp:alice", "not printable ASCII"),
    ],
)
def test_ambiguous_duplicated_or_short_tokens_are_refused_without_showing_them(tokens: str, words: str) -> None:
    message = config_error(SEEDANCE_MCP_TOKENS=tokens)
    assert words in message, message
    for secret in (TOK_A, TOK_B, "x=", "tok-with"):
        assert secret not in message, message


def test_a_short_token_in_the_toml_file_is_refused_too(tmp_path: Path) -> None:
    config = tmp_path / "seedance.toml"
    config.write_text('[mcp.tokens]\n"abc" = "mcp:alice"\n')
    message = config_error(SEEDANCE_CONFIG=str(config))
    assert "mcp:alice" in message and "at least 16" in message and '"abc"' not in message


# --- issue 12.8: the CLI and a stdio MCP server share one local user ---------------------------------


def test_local_front_ends_default_to_one_local_user() -> None:
    from mcp_server.state import AppState

    login = login_name()
    assert local_user() == f"local:{login}"
    assert AppState(settings=Settings()).stdio_user == local_user()
    assert AppState(settings=Settings(user="cli:alice")).stdio_user == "cli:alice"  # SEEDANCE_USER still wins
    assert local_user_aliases(login) == (f"cli:{login}", f"mcp:{login}")
    assert local_user() not in local_user_aliases(login)

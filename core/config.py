"""Settings, read once at start-up from ``SEEDANCE_*`` variables and an optional TOML file.

The TOML file (named by ``SEEDANCE_CONFIG``) may set the same keys in lower case, plus a
``[providers.<name>]`` table per provider so several can be used side by side:

    provider = "byteplus"
    [providers.byteplus]
    api_key = "..."
    [providers.apimart]
    api_key = "..."
    [limits]
    max_running_per_user = 2
    [mcp.tokens]
    "long-random-token" = "mcp:alice"

``SEEDANCE_MCP_TOKENS`` is ``<token>=<user>,<token>=<user>``; each entry splits at its last ``=``
(see `parse_mcp_tokens`). Tokens shorter than 16 characters and repeated tokens are refused.

Environment variables win over the file.
"""

from __future__ import annotations

import getpass
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from core.errors import ConfigError, register_secret
from core.registry import PROVIDER_NAMES


class ProviderSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    api_key: SecretStr | None = None
    base_url: str | None = None
    model: str | None = None
    # Status reads the scheduler may spend per minute (a token bucket), under the provider's rate limit.
    requests_per_minute: float | None = Field(default=None, gt=0)
    # Tasks this operator may have in flight at the provider at once (its concurrency quota); more wait.
    max_concurrent: int | None = Field(default=None, ge=1)


class Limits(BaseModel):
    """Per-user limits that protect the operator's money. ``None`` means no limit."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_running_per_user: int | None = Field(default=3, ge=1)
    max_tasks_per_day: int | None = Field(default=50, ge=1)
    # A daily budget per user in one provider unit: only tasks billed in that unit count, and a task
    # billed in another unit is refused rather than slip past it. Set the US-dollar budget to hold
    # one budget across every provider (tasks with no published price are then refused).
    daily_budget: float | None = Field(default=None, ge=0)
    daily_budget_unit: Literal["tokens", "credits"] = "tokens"
    daily_budget_usd: float | None = Field(default=None, ge=0)
    # Set by a community's settings (a Discord server's admins): one budget for all its members.
    community_daily_budget_usd: float | None = Field(default=None, ge=0)
    # At the running limit a request waits in our own queue instead of being refused.
    queue: bool = True


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    provider: str = "sandbox"
    providers: dict[str, ProviderSettings] = Field(default_factory=dict)
    home: Path = Field(default_factory=lambda: default_home())
    # postgresql://... shares the task store between processes and machines; None: SQLite in home.
    database_url: SecretStr | None = None
    user: str | None = None
    limits: Limits = Field(default_factory=Limits)
    max_download_mb: int = Field(default=500, ge=1)
    public_url: str | None = None  # where this server is reachable: provider callbacks and media links
    # bearer token -> user id (HTTP MCP); secrets, so never shown in reprs or dumps
    mcp_tokens: dict[str, str] = Field(default_factory=dict, repr=False, exclude=True)
    mcp_host: str = "127.0.0.1"
    mcp_port: int = Field(default=8000, ge=0, le=65535)
    discord_token: SecretStr | None = None
    discord_guild_id: int | None = None
    sandbox_speed: float = Field(default=1.0, gt=0)  # >1 makes sandbox tasks finish faster

    def __repr__(self) -> str:
        return f"Settings(provider={self.provider!r}, home={str(self.home)!r})"

    def __str__(self) -> str:
        return repr(self)

    @property
    def db_path(self) -> Path:
        return self.home / "seedance.db"

    @property
    def media_dir(self) -> Path:
        return self.home / "media"

    def provider_settings(self, name: str) -> ProviderSettings:
        return self.providers.get(name, ProviderSettings())

    def configured_providers(self) -> tuple[str, ...]:
        """The default provider first, then every other one that has a key (sandbox always works)."""
        names = [self.provider]
        for name, ps in self.providers.items():
            if name not in names and (name == "sandbox" or ps.api_key is not None):
                names.append(name)
        return tuple(names)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from the environment and the optional TOML file.

        Raises:
            ConfigError: a value is malformed, the provider is unknown, or a key is missing.
        """
        env = os.environ if environ is None else environ
        data: dict[str, Any] = {}
        config_file = env.get("SEEDANCE_CONFIG")
        if config_file:
            data = _read_toml(Path(config_file).expanduser())
        _merge_env(data, env)
        try:
            settings = cls.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ConfigError(f"configuration {where}: {first['msg']}") from None
        settings._check()
        return settings

    def _check(self) -> None:
        for secret in (self.discord_token, *(p.api_key for p in self.providers.values())):
            if secret is not None:
                register_secret(secret.get_secret_value())
        for token in self.mcp_tokens:
            register_secret(token)
        check_mcp_tokens(self.mcp_tokens)
        for name in {self.provider, *self.providers}:
            if name not in PROVIDER_NAMES:
                raise ConfigError(f"unknown provider {name!r}; choose one of: {', '.join(PROVIDER_NAMES)}")
        if self.provider != "sandbox" and self.provider_settings(self.provider).api_key is None:
            raise ConfigError(
                f"provider {self.provider!r} needs an API key: set SEEDANCE_API_KEY "
                "(or unset SEEDANCE_PROVIDER to use the offline sandbox)"
            )


def default_home() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "seedance"


def login_name() -> str:
    """The operating-system login of this process ("user" when it has none)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "user"


def default_user(front_end: str) -> str:
    """``<front_end>:<login>``: a user id named after a front end (the Discord bot's ids are its own)."""
    return f"{front_end}:{login_name()}"


LOCAL_PREFIX = "local"
# Front ends that act for the person at this computer. They used to keep one history each.
_OLD_LOCAL_PREFIXES = ("cli", "mcp")


def local_user() -> str:
    """The default user of the local front ends (the CLI and a stdio MCP server): ``local:<login>``.

    One person on one computer has one history, whichever local front end they use.
    ``SEEDANCE_USER`` still overrides it.
    """
    return f"{LOCAL_PREFIX}:{login_name()}"


def local_user_aliases(login: str) -> tuple[str, ...]:
    """The user ids that earlier versions gave ``login``'s local front ends by default, oldest first.

    Their rows belong to `local_user()` now: a store migration rewrites ``user`` from each of these to
    ``local:<login>`` in the local database. (HTTP MCP users such as ``mcp:alice`` come from the token
    table and are not defaults: a migration must only touch the ids returned here for this login.)
    """
    return tuple(f"{prefix}:{login}" for prefix in _OLD_LOCAL_PREFIXES)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            raw = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"SEEDANCE_CONFIG names {path}, which does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    data = dict(raw)
    mcp = data.pop("mcp", None)
    if isinstance(mcp, dict):
        if "tokens" in mcp:
            data["mcp_tokens"] = mcp["tokens"]
        for key in ("host", "port"):
            if key in mcp:
                data[f"mcp_{key}"] = mcp[key]
    discord = data.pop("discord", None)
    if isinstance(discord, dict):
        for key in ("token", "guild_id"):
            if key in discord:
                data[f"discord_{key}"] = discord[key]
    # Top-level api_key/base_url/model apply to the default provider, like the env variables.
    top = {k: data.pop(k) for k in ("api_key", "base_url", "model") if k in data}
    if top:
        providers = data.setdefault("providers", {})
        provider = str(data.get("provider", "sandbox"))
        providers.setdefault(provider, {}).update(top)
    return data


def _merge_env(data: dict[str, Any], env: Mapping[str, str]) -> None:
    simple = {
        "SEEDANCE_PROVIDER": "provider",
        "SEEDANCE_HOME": "home",
        "SEEDANCE_DATABASE_URL": "database_url",
        "SEEDANCE_USER": "user",
        "SEEDANCE_PUBLIC_URL": "public_url",
        "SEEDANCE_MCP_HOST": "mcp_host",
        "SEEDANCE_MCP_PORT": "mcp_port",
        "SEEDANCE_MAX_DOWNLOAD_MB": "max_download_mb",
        "SEEDANCE_SANDBOX_SPEED": "sandbox_speed",
        "DISCORD_TOKEN": "discord_token",
        "DISCORD_GUILD_ID": "discord_guild_id",
    }
    for var, key in simple.items():
        if env.get(var):
            data[key] = env[var]
    provider = str(data.get("provider", "sandbox")).strip().lower()
    data["provider"] = provider
    per_provider = {
        "SEEDANCE_API_KEY": "api_key",
        "SEEDANCE_BASE_URL": "base_url",
        "SEEDANCE_MODEL": "model",
        "SEEDANCE_REQUESTS_PER_MINUTE": "requests_per_minute",
        "SEEDANCE_MAX_CONCURRENT": "max_concurrent",
    }
    for var, key in per_provider.items():
        if env.get(var):
            data.setdefault("providers", {}).setdefault(provider, {})[key] = env[var]
    limits = {
        "SEEDANCE_MAX_RUNNING_PER_USER": "max_running_per_user",
        "SEEDANCE_MAX_TASKS_PER_DAY": "max_tasks_per_day",
        "SEEDANCE_DAILY_BUDGET": "daily_budget",
        "SEEDANCE_DAILY_BUDGET_USD": "daily_budget_usd",
    }
    for var, key in limits.items():
        if var in env:
            value = env[var].strip()
            # "none" (or empty) lifts a limit; a budget of 0 really means "spend nothing".
            data.setdefault("limits", {})[key] = None if value.lower() in ("", "none") else value
    _split_budget(data.setdefault("limits", {}))
    if env.get("SEEDANCE_MCP_TOKENS"):
        data["mcp_tokens"] = parse_mcp_tokens(env["SEEDANCE_MCP_TOKENS"])


def _split_budget(limits: dict[str, Any]) -> None:
    """``2000000 tokens``, ``500 credits`` or ``$5`` (US dollars); a bare number is in tokens."""
    value = limits.get("daily_budget")
    if not isinstance(value, str):
        return
    text = value.strip().lower().replace(",", "").replace("_", "")
    if text.startswith("$") or text.endswith(("usd", "dollars")):
        limits["daily_budget_usd"] = text.strip("$").removesuffix("usd").removesuffix("dollars").strip()
        del limits["daily_budget"]
        return
    for unit in ("tokens", "credits"):
        for suffix in (unit, unit[:-1]):
            if text.endswith(suffix):
                limits["daily_budget"], limits["daily_budget_unit"] = text.removesuffix(suffix).strip(), unit
                return


MIN_TOKEN_CHARS = 16


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def parse_mcp_tokens(text: str) -> dict[str, str]:
    """``SEEDANCE_MCP_TOKENS``: ``<token>=<user>`` entries separated by commas.

    Each entry is split at its LAST ``=``: a user id never contains ``=``, while a token may (base64
    padding such as ``abc==``), so the last ``=`` is the only place the two can meet. Every file that
    the old first-``=`` rule read correctly (tokens without ``=``) reads the same. A token cannot
    contain a comma; put such a token in the ``[mcp.tokens]`` table of the TOML file instead.

    Raises:
        ConfigError: an entry without ``=`` or with an empty side; the message names the entry by its
            position (and its user), never the token.
    """
    tokens: dict[str, str] = {}
    for number, entry in enumerate((e.strip() for e in text.split(",")), start=1):
        if not entry:
            continue  # "a=b," or ",,": a stray comma, nothing ambiguous about it
        token, sep, user = entry.rpartition("=")
        token, user = token.strip(), user.strip()
        where = f"the {_ordinal(number)} entry of SEEDANCE_MCP_TOKENS"
        if not sep or not token or not user:
            raise ConfigError(f"{where} is not <token>=<user> (the entry is not shown: it may hold a token)")
        if token in tokens:
            raise ConfigError(
                f"{where} (user {user!r}) repeats the token of user {tokens[token]!r}; "
                "each token must stand for exactly one user"
            )
        tokens[token] = user
    return tokens


def check_mcp_tokens(tokens: Mapping[str, str]) -> None:
    """Refuse tokens that are short, not printable ASCII, or user ids that are empty or contain ``=``.

    Messages name the user a bad token belongs to, never the token.
    """
    for token, user in tokens.items():
        if not isinstance(user, str) or not user.strip() or "=" in user or user != user.strip():
            raise ConfigError(f"MCP token user {user!r} is not a valid user id (no '=', no surrounding spaces)")
        if len(token) < MIN_TOKEN_CHARS:
            raise ConfigError(
                f"the MCP token of user {user!r} has {len(token)} characters; use at least {MIN_TOKEN_CHARS} "
                "random ones (for example: python -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
        if not all(33 <= ord(ch) <= 126 for ch in token):
            raise ConfigError(
                f"the MCP token of user {user!r} contains spaces or characters that are not printable ASCII; "
                "an HTTP Authorization header cannot carry them reliably"
            )

"""Provider adapters, one module per wire format, and the registry that builds them."""

from __future__ import annotations

import importlib
from pathlib import Path

from core.errors import ConfigError
from core.http import HttpClient
from core.providers.base import Provider, RemoteRef, RemoteTask, error_from_status

__all__ = ["Provider", "RemoteRef", "RemoteTask", "error_from_status", "make_provider", "ADAPTERS"]

# provider id -> "module:Class"; imported on demand so one adapter's import cost is paid only when used.
ADAPTERS = {
    "byteplus": "core.providers.ark:BytePlusProvider",
    "volcengine": "core.providers.ark:VolcengineProvider",
    "apiyi": "core.providers.ark:ApiyiProvider",
    "acedata": "core.providers.acedata:AceDataProvider",
    "seedanceapi": "core.providers.seedanceapi:SeedanceApiProvider",
    "apimart": "core.providers.apimart:ApimartProvider",
}


def make_provider(
    name: str,
    *,
    http: HttpClient,
    api_key: str | None,
    base_url: str | None = None,
    home: Path | None = None,
    sandbox_speed: float = 1.0,
) -> Provider:
    """Build the adapter for ``name``.

    Raises:
        ConfigError: unknown provider, or no key for a provider that needs one.
    """
    if name == "sandbox":
        from core.sandbox.provider import SandboxProvider

        return SandboxProvider(http=http, home=home or Path.cwd(), speed=sandbox_speed)
    target = ADAPTERS.get(name)
    if target is None:
        raise ConfigError(f"unknown provider {name!r}; choose one of: sandbox, {', '.join(ADAPTERS)}")
    if not api_key:
        raise ConfigError(f"provider {name!r} needs an API key (SEEDANCE_API_KEY)")
    module_name, class_name = target.split(":")
    cls: type[Provider] = getattr(importlib.import_module(module_name), class_name)
    return cls(http=http, api_key=api_key, base_url=base_url)

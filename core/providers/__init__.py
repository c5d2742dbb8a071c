"""Provider adapters, one module per wire format; `make_provider` builds one from the registry (`core.registry`)."""

from __future__ import annotations

from pathlib import Path

from core.errors import ConfigError
from core.http import HttpClient
from core.providers.base import Provider, RemoteRef, RemoteTask, error_from_status
from core.registry import PROVIDER_NAMES, SANDBOX, provider_info

__all__ = ["Provider", "RemoteRef", "RemoteTask", "adapter_classes", "error_from_status", "make_provider"]


def adapter_classes(wire_format: str) -> tuple[type[Provider], ...]:
    """The adapter classes of one wire format, imported on demand (one format's import cost when used)."""
    if wire_format == "ark":
        from core.providers.ark import ApiyiProvider, BytePlusProvider, VolcengineProvider

        return (BytePlusProvider, VolcengineProvider, ApiyiProvider)
    if wire_format == "acedata":
        from core.providers.acedata import AceDataProvider

        return (AceDataProvider,)
    if wire_format == "seedanceapi":
        from core.providers.seedanceapi import SeedanceApiProvider

        return (SeedanceApiProvider,)
    if wire_format == "apimart":
        from core.providers.apimart import ApimartProvider

        return (ApimartProvider,)
    if wire_format == "sandbox":
        from core.sandbox.provider import SandboxProvider

        return (SandboxProvider,)
    raise ConfigError(f"no adapter speaks the wire format {wire_format!r}")


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
    if name == SANDBOX:
        from core.sandbox.provider import SandboxProvider

        return SandboxProvider(http=http, home=home or Path.cwd(), speed=sandbox_speed)
    info = provider_info(name)
    if info is None:
        raise ConfigError(f"unknown provider {name!r}; choose one of: {', '.join(PROVIDER_NAMES)}")
    if not api_key:
        raise ConfigError(f"provider {name!r} needs an API key (SEEDANCE_API_KEY)")
    cls = next(c for c in adapter_classes(info.wire_format) if c.name == name)
    return cls(http=http, api_key=api_key, base_url=base_url)

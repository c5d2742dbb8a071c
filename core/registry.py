"""The one list of providers: configuration's names, the catalog's entries and the adapters derive from it.

Adding a provider: one line here, its models in `core.catalog.data`, its wire format in
``core/providers/<format>.py`` (or a class in an existing one), a fake in ``tests/fakes/`` and its
tests. Pure data, no imports: the settings and the catalog read it at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ProviderInfo:
    """A provider id and the wire format (module of `core.providers`) that speaks to it."""

    name: str
    wire_format: str
    needs_key: bool = True


SANDBOX = "sandbox"

PROVIDERS: tuple[ProviderInfo, ...] = (
    ProviderInfo(SANDBOX, "sandbox", needs_key=False),  # built in, offline (core.sandbox)
    ProviderInfo("byteplus", "ark"),
    ProviderInfo("volcengine", "ark"),
    ProviderInfo("apiyi", "ark"),
    ProviderInfo("acedata", "acedata"),
    ProviderInfo("seedanceapi", "seedanceapi"),
    ProviderInfo("apimart", "apimart"),
)

PROVIDER_NAMES: tuple[str, ...] = tuple(p.name for p in PROVIDERS)


def provider_info(name: str) -> ProviderInfo | None:
    """The registry entry for ``name``, or None for an unknown provider."""
    return next((p for p in PROVIDERS if p.name == name), None)

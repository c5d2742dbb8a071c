"""Provider adapters, one module per wire format, and the registry that builds them."""

from __future__ import annotations

from core.providers.base import Provider, RemoteTask, error_from_status

__all__ = ["Provider", "RemoteTask", "error_from_status"]

"""One provider registry (core.registry): the configuration, the catalog and the adapters follow it."""

from __future__ import annotations

import pytest

from core import catalog, config
from core.providers import adapter_classes
from core.registry import PROVIDER_NAMES, PROVIDERS, ProviderInfo, provider_info


def test_the_catalog_and_the_configuration_know_exactly_the_registry_s_providers() -> None:
    assert catalog.providers() == PROVIDER_NAMES
    assert config.PROVIDER_NAMES is PROVIDER_NAMES


@pytest.mark.parametrize("info", PROVIDERS, ids=lambda p: p.name)
def test_every_provider_has_models_and_an_adapter_of_its_wire_format(info: ProviderInfo) -> None:
    assert provider_info(info.name) is info
    assert catalog.models(info.name)
    names = [cls.name for cls in adapter_classes(info.wire_format)]
    assert info.name in names


def test_an_unknown_provider_has_no_entry() -> None:
    assert provider_info("runway") is None

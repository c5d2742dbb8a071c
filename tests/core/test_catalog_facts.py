"""The catalog answers every model fact a front end needs (issue 9): lengths, their words, bounds, choices."""

from __future__ import annotations

from core import catalog
from core.models import VideoRequest


def test_a_range_model_lists_every_length_and_auto_last() -> None:
    spec = catalog.get_model("byteplus", "dreamina-seedance-2-0-260128")
    assert spec.duration_bounds() == (4, 15)
    assert spec.duration_choices() == (*range(4, 16), -1)
    assert spec.duration_span() == "4-15" and spec.duration_span("–") == "4–15"
    assert spec.accepts_duration(15) and spec.accepts_duration(-1) and not spec.accepts_duration(16)


def test_a_model_with_fixed_lengths_offers_only_those() -> None:
    spec = catalog.get_model("seedanceapi", "seedance-2.0")
    assert spec.duration_choices() == (5, 10, 15)
    assert spec.duration_bounds() == (5, 15) and spec.duration_span() == "5/10/15"
    assert not spec.accepts_duration(7) and not spec.accepts_duration(-1)


def test_choices_over_several_models_are_unions_in_a_fixed_order() -> None:
    specs = catalog.models("sandbox") + catalog.models("seedanceapi")
    assert catalog.resolutions_of(specs) == ("480p", "720p", "1080p")
    assert catalog.resolutions_of(catalog.models("seedanceapi")) == ("480p", "720p")
    assert catalog.ratios_of(catalog.models("seedanceapi"))[0] == "16:9"
    assert catalog.duration_bounds_of(specs) == (2, 15)  # 1.0 pro starts at 2 s
    assert catalog.duration_bounds_of(()) == (4, 15)


def test_the_seed_bound_is_the_request_s_own() -> None:
    assert VideoRequest(prompt="x", seed=catalog.SEED_MAX).seed == catalog.SEED_MAX
    assert catalog.SEED_MAX == 2**32 - 1

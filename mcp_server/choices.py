"""What the configured providers allow, read from the catalog, for the tools' JSON schema.

An assistant reads the input schema before it calls a tool, so the models, resolutions, ratios,
duration range and reference limits go into it as enums and bounds; the catalog still checks
each combination (a duration one model allows may be too long for another).
"""

from __future__ import annotations

from dataclasses import dataclass

from core import catalog
from core.catalog import ModelSpec
from core.config import Settings
from core.models import MAX_PROMPT_CHARS


@dataclass(frozen=True)
class Choices:
    default_provider: str
    providers: tuple[str, ...]
    specs: tuple[ModelSpec, ...]
    models: tuple[str, ...]
    resolutions: tuple[str, ...]
    ratios: tuple[str, ...]
    duration_min: int
    duration_max: int
    auto_duration: bool
    max_reference_images: int
    max_reference_videos: int
    max_reference_audios: int
    max_prompt_chars: int

    @property
    def default_spec(self) -> ModelSpec:
        return self.specs[0]

    @property
    def free(self) -> bool:
        return all(p == "sandbox" for p in self.providers)

    @classmethod
    def from_settings(cls, settings: Settings) -> Choices:
        providers = settings.configured_providers()
        specs = tuple(spec for name in providers for spec in catalog.models(name))
        duration_min, duration_max = catalog.duration_bounds_of(specs)
        return cls(
            default_provider=settings.provider,
            providers=providers,
            specs=specs,
            models=tuple(dict.fromkeys(s.id for s in specs)),
            resolutions=catalog.resolutions_of(specs),
            ratios=catalog.ratios_of(specs),
            duration_min=duration_min,
            duration_max=duration_max,
            auto_duration=any(s.auto_duration for s in specs),
            max_reference_images=max((s.max_ref_images for s in specs), default=0),
            max_reference_videos=max((s.max_ref_videos for s in specs), default=0),
            max_reference_audios=max((s.max_ref_audios for s in specs), default=0),
            max_prompt_chars=max((s.max_prompt_chars for s in specs), default=MAX_PROMPT_CHARS),
        )

    def model_summary(self) -> str:
        """One line per model: what an assistant needs to pick one."""
        lines = []
        for s in self.specs:
            secs = s.duration_span()
            mark = " (default)" if s is self.default_spec else ""
            lines.append(
                f"- {s.id} [{s.provider}]{mark}: {s.label}; {'/'.join(s.resolutions)}; {secs} s; "
                f"audio {'yes' if s.audio else 'no'}; modes {', '.join(m for m in catalog.MODES if m in s.modes)}"
            )
        return "\n".join(lines)

"""``seedance models`` and ``seedance estimate``: what the catalog knows, without paying."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from cli.output import EXIT_OK, Session, money, print_json
from cli.request import request_from_args
from core import catalog
from core.config import Settings
from core.service import VideoService


def _model_specs(settings: Settings, args: argparse.Namespace) -> list[catalog.ModelSpec]:
    if args.provider:
        names: Sequence[str] = [args.provider]
    elif args.all:
        names = catalog.providers()
    else:
        names = settings.configured_providers()
    return [spec for name in names for spec in catalog.models(name)]


def models(settings: Settings, args: argparse.Namespace) -> int:
    """The catalog only: no database, no key needed."""
    specs = _model_specs(settings, args)
    if args.json:
        print_json([s.to_json() for s in specs])
        return EXIT_OK
    for spec in specs:
        mark = "*" if spec.newest_default else " "
        durations = spec.duration_span()
        print(
            f"{mark} {spec.provider:<11} {spec.id:<36} {'/'.join(spec.resolutions):<16} "
            f"{durations:>6}s  audio={'yes' if spec.audio else 'no ':<3}  {spec.label}"
        )
        print(f"  {'':<11} price: {catalog.price_text(spec)}")
    if not (args.all or args.provider):
        print("(* marks each provider's default; model ids differ per provider: "
              "'seedance models --all' lists every provider)")
    return EXIT_OK


async def estimate(service: VideoService, user: str, args: argparse.Namespace, session: Session) -> int:
    # No prompt is needed to price a video: the cost never depends on the words.
    request = catalog.for_pricing(request_from_args(args))
    estimate = service.estimate(request, args.provider)
    usd = catalog.request_usd(estimate.request, estimate.provider, estimate.unit, estimate.amount)
    spec = catalog.get_model(estimate.provider, estimate.model)
    data = {
        "provider": estimate.provider,
        "model": estimate.model,
        "unit": estimate.unit,
        "estimated": estimate.amount,
        "usd": usd,
        "price_rule": catalog.price_text(spec),
        "params": estimate.request.params(),
    }
    if args.json:
        print_json(data)
    else:
        print(f"{estimate.provider} {estimate.model}: about {money(estimate.unit, estimate.amount, usd)}")
        print(f"price: {data['price_rule']}")
    return EXIT_OK

"""One exception tree for everything the core raises.

Every error has a stable ``code`` (for scripts and tool callers) and a one-line ``str()`` that is
safe to show a person or an LLM: it never carries an API key, a header or a raw response body.
Details a developer may want live on attributes, never in the message.

    SeedanceError
    ├── ConfigError                 the operator's setup is wrong (missing key, unknown provider)
    ├── InvalidRequestError         bad input, refused locally or by the provider; nothing was charged
    ├── TaskNotFoundError           no such task for this user (also another user's task)
    ├── LimitReachedError           a per-user limit (running tasks, tasks per day, daily budget)
    ├── NotSupportedError           the provider cannot do this (e.g. cancel on APIYI)
    ├── StoreError                  the task database cannot be opened or used (names the database)
    └── ProviderError               the provider answered with an error or did not answer
        ├── AuthenticationError     401/403: key missing, wrong, or the account lacks access
        ├── InsufficientCreditsError  the account has no balance left
        ├── RateLimitError          429; ``retry_after`` in seconds when the provider said
        ├── ProviderUnavailableError  5xx, time-outs, refused connections, after retries
        └── SubmitUncertainError    a submit may have reached the provider but the answer was lost
"""

from __future__ import annotations


class SeedanceError(Exception):
    """Base class: ``code`` is stable, ``str(exc)`` is one line safe to show a user."""

    code = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        # One line of printable text, always: front ends show it verbatim, and a value echoed from
        # the input must not smuggle terminal escapes into someone's terminal.
        super().__init__(redact(_printable(" ".join(message.split()))))
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        return str(self)


class ConfigError(SeedanceError):
    code = "config_error"


class InvalidRequestError(SeedanceError):
    """Bad input. ``field`` names the offending parameter when known."""

    code = "invalid_request"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.field = field


class TaskNotFoundError(SeedanceError):
    code = "task_not_found"


class LimitReachedError(SeedanceError):
    code = "limit_reached"


class StoreError(SeedanceError):
    """The task database is damaged, foreign, locked for too long, full or unreachable."""

    code = "store_error"


class NotSupportedError(SeedanceError):
    code = "not_supported"


class ProviderError(SeedanceError):
    """The provider refused or failed. ``status_code`` and ``provider_code`` are kept for logs."""

    code = "provider_error"

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        status_code: int | None = None,
        provider_code: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.provider = provider
        self.status_code = status_code
        self.provider_code = provider_code


class AuthenticationError(ProviderError):
    code = "authentication_failed"


class InsufficientCreditsError(ProviderError):
    code = "insufficient_credits"


class RateLimitError(ProviderError):
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_after = retry_after


class ProviderUnavailableError(ProviderError):
    code = "provider_unavailable"


class SubmitUncertainError(ProviderError):
    """The submit was sent but no answer came back: a paid task may exist. Never resend blindly."""

    code = "submit_uncertain"


def _printable(text: str) -> str:
    return "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" if ord(ch) < 256 else f"\\u{ord(ch):04x}"
                   for ch in text)


# Every credential this process holds (provider keys, bot and MCP tokens). Providers and gateways
# sometimes echo the key in an auth error; no message built from their text may carry it on.
_SECRETS: set[str] = set()
_MIN_SECRET = 8  # shorter values would redact ordinary words


def register_secret(value: str | None) -> None:
    if value and len(value) >= _MIN_SECRET:
        _SECRETS.add(value)


def redact(text: str) -> str:
    """``text`` with every registered secret replaced by ``[redacted]``."""
    for secret in _SECRETS:
        if secret in text:
            text = text.replace(secret, "[redacted]")
    return text

"""Bearer tokens for the HTTP server: each configured token stands for one user.

The operator lists tokens in the configuration (``SEEDANCE_MCP_TOKENS=token=mcp:alice,...`` or
``[mcp.tokens]`` in the TOML file). The SDK's bearer middleware calls `verify_token`; the user id
becomes the `AccessToken`'s ``subject`` (and ``client_id``, which the SDK uses to bind an HTTP
session to the principal that opened it, so one user cannot drive another's session).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Mapping

from mcp.server.auth.provider import AccessToken

log = logging.getLogger("seedance.mcp")

MIN_TOKEN_CHARS = 16


class StaticTokenVerifier:
    """The SDK's `TokenVerifier` protocol over a fixed token → user table."""

    def __init__(self, tokens: Mapping[str, str]) -> None:
        self._tokens = [(token.encode(), user) for token, user in tokens.items() if token and user]
        for token, _ in self._tokens:
            if len(token) < MIN_TOKEN_CHARS:
                log.warning("an MCP token is shorter than %d characters: easy to guess", MIN_TOKEN_CHARS)

    def __bool__(self) -> bool:
        return bool(self._tokens)

    async def verify_token(self, token: str) -> AccessToken | None:
        presented = token.strip().encode()
        user = None
        for known, owner in self._tokens:
            # Compare against every token, in constant time, so timing tells nothing about them.
            if hmac.compare_digest(known, presented):
                user = owner
        if user is None:
            return None
        return AccessToken(token=token, client_id=user, subject=user, scopes=[])

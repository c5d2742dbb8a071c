"""Unguessable links to finished videos and last frames, served by ``seedance serve`` itself.

Shared by the front ends: the MCP server serves the files, and the Discord bot links to them
when a video is too large to upload.

A provider's video link expires after about 24 hours; the service downloads every result into
``<home>/media``. In HTTP mode we hand out ``<base>/media/<mac>/<file name>``, where ``<mac>`` is an
HMAC of the file name under a server secret, so a link works for as long as the file is kept, and
nobody can guess the link to someone else's video. The secret lives in an owner-only file in the
home folder so links survive restarts.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path
from urllib.parse import quote

SECRET_FILE = "media-secret"
_MAC_CHARS = 40  # 160 bits of the SHA-256 HMAC: far beyond guessing


def load_secret(home: Path) -> bytes:
    """The server's media secret, created (owner-only) on first use."""
    path = home / SECRET_FILE
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        value = path.read_text().strip()
        if len(value) >= 32:
            os.chmod(path, 0o600)  # tighten a copy made with looser permissions
            return value.encode()
        path.unlink()  # empty or truncated (a crash mid-write): make a new one
        return load_secret(home)
    value = secrets.token_hex(32)
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    return value.encode()


class MediaLinks:
    """Signs and checks links to files in the media folder."""

    def __init__(self, secret: bytes, media_dir: Path, base_url: str) -> None:
        self._secret = secret
        self.media_dir = media_dir
        self.base_url = base_url.rstrip("/")

    def _mac(self, name: str) -> str:
        return hmac.new(self._secret, b"media:" + name.encode(), hashlib.sha256).hexdigest()[:_MAC_CHARS]

    def url_for(self, path: str | None) -> str | None:
        """The public link for a file the service saved, or None when there is no such file."""
        if not path:
            return None
        file = Path(path)
        if file.parent.resolve() != self.media_dir.resolve() or not file.is_file():
            return None
        return f"{self.base_url}/media/{self._mac(file.name)}/{quote(file.name)}"

    def resolve(self, mac: str, name: str) -> Path | None:
        """The file a link names when its MAC is right; None otherwise (the caller answers 404)."""
        if not name or "/" in name or "\\" in name or name.startswith("."):
            return None
        if not hmac.compare_digest(self._mac(name), mac):
            return None
        file = self.media_dir / name
        return file if file.is_file() else None

"""The home folder (``SEEDANCE_HOME``) is trusted only when nobody else can change it.

The home holds the database (every user's prompts and tasks), the media secret that signs links,
and the media folder that ``seedance serve`` publishes. If another local account created the home
first, or can write into it, that account can read the prompts, swap the database, or point
``media`` at the server user's private files and get them served under a valid link.

`prepare_home` is called before anything is opened. It creates a missing home owner-only (0700)
and refuses, with one line naming the path, a home, database (and its ``-wal``/``-shm``), media
secret, ``media/`` or ``sandbox/`` folder that:

- belongs to another account, or
- is writable by others, or by a group other than the user's own primary group (writable by the
  user's own group, the "user private group" umask 002, it is tightened to 0700/0600 instead), or
- (for everything inside the home) is a symbolic link.

The home itself may be a symbolic link (a home moved to another disk), as long as what it points
to passes the same checks. Like OpenSSH's ``StrictModes``, it refuses rather than repairs: a folder
someone else could write to may already have been tampered with.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from core.errors import ConfigError

DB_FILES = ("seedance.db", "seedance.db-wal", "seedance.db-shm")
SECRET_FILES = ("media-secret",)
FOLDERS = ("media", "sandbox")


def prepare_home(home: Path) -> None:
    """Create ``home`` (0700) if missing, then check it and what it holds; see the module docstring.

    Raises:
        ConfigError: one line naming the path and what is wrong with it.
    """
    if not hasattr(os, "geteuid"):  # Windows: ownership and modes mean something else there
        home.mkdir(parents=True, exist_ok=True)
        return
    if not home.exists() and not home.is_symlink():
        home.parent.mkdir(parents=True, exist_ok=True)
        try:
            home.mkdir(mode=0o700)
        except FileExistsError:
            pass  # made by a second process at the same moment: checked below like any other
        else:
            os.chmod(home, 0o700)  # mkdir's mode is filtered by the umask; say exactly what is meant
    try:
        info = os.stat(home)  # follows a symlinked home: what counts is the folder it names
    except OSError as exc:
        raise ConfigError(f"the Seedance home {home} cannot be used: {exc.strerror}") from None
    if not stat.S_ISDIR(info.st_mode):
        raise ConfigError(f"the Seedance home {home} is not a folder; set SEEDANCE_HOME to a folder of your own")
    _check_owner_and_mode(home, info)
    for name in (*DB_FILES, *SECRET_FILES):
        _check_inside(home / name, folder=False)
    for name in FOLDERS:
        _check_inside(home / name, folder=True)


def _check_inside(path: Path, *, folder: bool) -> None:
    try:
        info = os.lstat(path)  # never follow: a link here could lead anywhere
    except FileNotFoundError:
        return
    except OSError as exc:
        raise ConfigError(f"{path} cannot be checked: {exc.strerror}") from None
    if stat.S_ISLNK(info.st_mode):
        raise ConfigError(f"{path} is a symbolic link; refusing to use it (remove the link and start again)")
    if folder and not stat.S_ISDIR(info.st_mode):
        raise ConfigError(f"{path} is not a folder; remove it and start again")
    if not folder and not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"{path} is not a regular file; remove it and start again")
    _check_owner_and_mode(path, info)


def _check_owner_and_mode(path: Path, info: os.stat_result) -> None:
    if info.st_uid != os.geteuid():
        raise ConfigError(
            f"{path} belongs to another account (uid {info.st_uid}), so it cannot be trusted; "
            "use a SEEDANCE_HOME that you created yourself"
        )
    mode = stat.S_IMODE(info.st_mode)
    folder = stat.S_ISDIR(info.st_mode)
    if mode & stat.S_IWGRP and not mode & stat.S_IWOTH and info.st_gid == os.getegid():
        # Group-writable by our own primary group: the "user private group" umask (002) of several
        # distributions gives every new file this mode. Ours, so tighten it rather than refuse.
        os.chmod(path, 0o700 if folder else 0o600)
        return
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        fix = "chmod 700" if folder else "chmod 600"
        raise ConfigError(
            f"{path} can be changed by other accounts (mode {mode:o}); check nobody has tampered with it, "
            f"then run: {fix} {path}"
        )

"""Issue 11.4: a home, database or media folder another account made or can write is refused (`prepare_home`)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from core.errors import ConfigError
from core.home import prepare_home

pytestmark = pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX ownership and modes")


def refused(home: Path) -> str:
    with pytest.raises(ConfigError) as info:
        prepare_home(home)
    message = str(info.value)
    assert "\n" not in message and message.strip() == message
    return message


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_a_missing_home_is_created_owner_only(tmp_path: Path) -> None:
    old = os.umask(0)  # even under the loosest umask
    try:
        prepare_home(tmp_path / "deep" / "seedance")
    finally:
        os.umask(old)
    assert mode(tmp_path / "deep" / "seedance") == 0o700
    prepare_home(tmp_path / "deep" / "seedance")  # and a second start accepts it


def test_a_sound_home_is_accepted_as_it_is(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    os.chmod(home, 0o755)  # readable by others is the owner's choice; writable is not
    (home / "media").mkdir()
    (home / "seedance.db").write_bytes(b"")
    os.chmod(home / "seedance.db", 0o644)
    prepare_home(home)
    assert mode(home) == 0o755 and mode(home / "seedance.db") == 0o644


@pytest.mark.parametrize("name", ["", "seedance.db", "seedance.db-wal", "seedance.db-shm", "media", "sandbox",
                                  "media-secret"])
def test_anything_writable_by_others_is_refused(tmp_path: Path, name: str) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    target = home / name if name else home
    if name in ("media", "sandbox"):
        target.mkdir()
    elif name:
        target.write_bytes(b"")
    os.chmod(target, 0o777 if target.is_dir() else 0o666)
    message = refused(home)
    assert str(target) in message and "can be changed by other accounts" in message


def test_writable_only_by_the_users_own_group_is_tightened(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    os.chmod(home, 0o775)
    (home / "seedance.db").write_bytes(b"")
    os.chmod(home / "seedance.db", 0o664)
    os.chown(home / "seedance.db", -1, os.getegid())
    os.chown(home, -1, os.getegid())
    prepare_home(home)
    assert mode(home) == 0o700 and mode(home / "seedance.db") == 0o600


def test_a_home_made_by_another_account_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    real = os.geteuid()
    monkeypatch.setattr(os, "geteuid", lambda: real + 4242)  # as seen by another account
    message = refused(home)
    assert str(home) in message and "belongs to another account" in message


@pytest.mark.skipif(os.name != "posix" or os.geteuid() != 0, reason="giving a file away needs root")
def test_a_database_owned_by_another_account_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    (home / "seedance.db").write_bytes(b"")
    os.chown(home / "seedance.db", 65534, 65534)
    assert "belongs to another account" in refused(home)


@pytest.mark.parametrize("name", ["media", "sandbox", "seedance.db"])
def test_a_symlinked_media_sandbox_or_database_is_refused(tmp_path: Path, name: str) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    elsewhere = tmp_path / "private"
    elsewhere.mkdir(mode=0o700)
    (home / name).symlink_to(elsewhere if name != "seedance.db" else elsewhere / "x.db")
    message = refused(home)
    assert f"{home / name} is a symbolic link" in message


def test_a_symlinked_home_is_judged_by_its_target(tmp_path: Path) -> None:
    target = tmp_path / "disk" / "seedance"
    target.mkdir(parents=True, mode=0o700)
    link = tmp_path / "seedance"
    link.symlink_to(target)
    prepare_home(link)
    os.chmod(target, 0o777)
    assert "can be changed by other accounts" in refused(link)


def test_a_home_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "home").write_text("not a folder")
    assert "is not a folder" in refused(tmp_path / "home")

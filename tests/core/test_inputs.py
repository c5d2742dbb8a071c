"""Turning URLs, local files and uploaded bytes into request inputs (`core.inputs`)."""

from __future__ import annotations

import base64
import ipaddress
import struct
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import InvalidRequestError
from core.inputs import (
    MAX_IMAGE_BYTES,
    address_is_public,
    check_url,
    image_from_bytes,
    image_input,
    image_size,
    is_public_host,
    media_input,
    sniff_image_type,
)
from core.models import ImageRole


def png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def jpeg(width: int, height: int) -> bytes:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, height, width, 3) + b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    return b"\xff\xd8" + app0 + sof0 + b"\xff\xd9"


def gif(width: int, height: int) -> bytes:
    return b"GIF89a" + struct.pack("<HH", width, height) + b"\x00\x00\x00;"


def bmp(width: int, height: int) -> bytes:
    return b"BM" + b"\x00" * 16 + struct.pack("<ii", width, -height) + b"\x00" * 28


def webp(width: int, height: int) -> bytes:
    body = b"WEBPVP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00"
    body += (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return b"RIFF" + struct.pack("<I", len(body)) + body


@pytest.mark.parametrize(("make", "kind"), [(png, "png"), (jpeg, "jpeg"), (gif, "gif"), (bmp, "bmp"), (webp, "webp")])
def test_image_headers_are_sniffed_and_sized(make: object, kind: str) -> None:
    data = make(1280, 720)  # type: ignore[operator]
    assert sniff_image_type(data) == kind
    assert image_size(data, kind) == (1280, 720)


def test_a_good_image_becomes_a_data_url_with_its_role() -> None:
    data = png(1024, 768)
    image = image_from_bytes(data, role=ImageRole.LAST_FRAME, field="last_frame", name="end.png")
    assert image.role is ImageRole.LAST_FRAME
    assert image.url.startswith("data:image/png;base64,")
    assert base64.b64decode(image.url.split(",", 1)[1]) == data


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (png(200, 800), "between 300 and 6000"),
        (png(7000, 4000), "between 300 and 6000"),
        (png(1500, 500), "aspect ratio 3.00"),
        (jpeg(300, 1000), "aspect ratio"),
        (b"%PDF-1.7 not an image", "not a JPEG, PNG"),
        (b"", "not a JPEG, PNG"),
    ],
)
def test_unusable_images_are_refused_naming_the_field(data: bytes, words: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        image_from_bytes(data, role=ImageRole.FIRST_FRAME, field="first_frame", name="in.png")
    assert info.value.field == "first_frame"
    assert str(info.value).startswith("first_frame: ") and words in str(info.value)
    assert "\n" not in str(info.value)


def test_an_image_over_30_mb_is_refused_before_looking_inside() -> None:
    with pytest.raises(InvalidRequestError) as info:
        image_from_bytes(png(1000, 1000) + b"\x00" * MAX_IMAGE_BYTES, role=ImageRole.FIRST_FRAME, field="first_frame")
    assert "30 MB" in str(info.value)


def test_image_input_takes_urls_data_urls_and_local_files(tmp_path: Path) -> None:
    url = "https://img.example.com/cat.png?sig=1"
    assert image_input(url, role=ImageRole.FIRST_FRAME, field="first_frame").url == url
    data_url = "data:image/png;base64,iVBORw0KGgo="
    assert image_input(data_url, role=ImageRole.REFERENCE_IMAGE, field="reference_image").url == data_url
    local = tmp_path / "frame.jpg"
    local.write_bytes(jpeg(640, 480))
    got = image_input(str(local), role=ImageRole.FIRST_FRAME, field="first_frame")
    assert got.url.startswith("data:image/jpeg;base64,")


def test_image_input_refuses_missing_files_and_local_paths_where_not_allowed(tmp_path: Path) -> None:
    with pytest.raises(InvalidRequestError) as info:
        image_input(str(tmp_path / "nope.png"), role=ImageRole.FIRST_FRAME, field="first_frame")
    assert info.value.field == "first_frame" and "existing file" in str(info.value)
    with pytest.raises(InvalidRequestError):
        image_input(str(tmp_path), role=ImageRole.FIRST_FRAME, field="first_frame")  # a folder
    local = tmp_path / "frame.png"
    local.write_bytes(png(640, 480))
    with pytest.raises(InvalidRequestError) as info:
        image_input(str(local), role=ImageRole.FIRST_FRAME, field="first_frame", allow_local=False)
    assert "local files are not accepted" in str(info.value)
    not_image = tmp_path / "notes.png"
    not_image.write_text("hello")
    with pytest.raises(InvalidRequestError):
        image_input(str(not_image), role=ImageRole.FIRST_FRAME, field="first_frame")


def test_media_input_takes_only_http_urls() -> None:
    assert media_input("https://cdn.example.com/clip.mp4", field="reference_video").url.endswith("clip.mp4")
    for value in ("/etc/passwd", "file:///tmp/a.mp3", "clip.mp4", "ftp://x/y.mp4"):
        with pytest.raises(InvalidRequestError) as info:
            media_input(value, field="reference_audio")
        assert info.value.field == "reference_audio"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/x.png",
        "http://localhost/x.png",
        "http://api.localhost/x.png",
        "http://10.1.2.3/x.png",
        "http://192.168.0.10/x.png",
        "http://172.16.5.4/x.png",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/x.png",
        "http://[fe80::1]/x.png",
        "http://0.0.0.0/x.png",
    ],
)
def test_public_only_refuses_loopback_private_and_link_local_hosts(url: str) -> None:
    check_url(url, field="first_frame")  # fine when local addresses are allowed
    with pytest.raises(InvalidRequestError) as info:
        check_url(url, field="first_frame", public_only=True)
    assert "public URL" in str(info.value)
    with pytest.raises(InvalidRequestError):
        media_input(url, field="reference_video", public_only=True)


def test_public_addresses_pass_and_malformed_urls_do_not() -> None:
    check_url("https://8.8.8.8/a.png", field="f", public_only=True)
    assert is_public_host("1.1.1.1")
    for bad in ("http://", "https:///path", "javascript:alert(1)", "https://x.com/" + "a" * 5000):
        with pytest.raises(InvalidRequestError):
            check_url(bad, field="f")


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=200).filter(lambda s: not s.startswith(("http://", "https://"))))
def test_anything_but_an_http_url_is_refused_in_one_line(value: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        media_input(value, field="reference_video", public_only=True)
    assert info.value.field == "reference_video"
    assert "\n" not in str(info.value) and str(info.value).startswith("reference_video: ")


@settings(max_examples=200, deadline=None)
@given(st.ip_addresses(), st.text(alphabet=st.characters(categories=["L", "N"]), max_size=30))
def test_an_ip_literal_is_accepted_exactly_when_it_is_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address,
                                                             path: str) -> None:
    host = f"[{ip}]" if ip.version == 6 else str(ip)
    url = f"https://{host}/{path}"
    public = address_is_public(str(ip))
    try:
        check_url(url, field="reference_video", public_only=True)
        accepted = True
    except InvalidRequestError as exc:
        assert "\n" not in str(exc)
        accepted = False
    assert accepted is public


@pytest.mark.parametrize(
    "host", ["[64:ff9b::7f00:1]", "[2002:7f00:1::]", "[::ffff:10.0.0.1]", "localhost.", "LOCALHOST."]
)
def test_addresses_that_embed_or_name_a_local_one_are_refused(host: str) -> None:
    with pytest.raises(InvalidRequestError):
        check_url(f"https://{host}/a.png", field="first_frame", public_only=True)


@pytest.mark.parametrize("url", ["http://127.0.0.1\\@example.com/a.png", "https://user:pw@example.com/a.png"])
def test_urls_with_credentials_or_backslashes_are_refused(url: str) -> None:
    with pytest.raises(InvalidRequestError, match="credentials or backslashes"):
        check_url(url, field="first_frame")

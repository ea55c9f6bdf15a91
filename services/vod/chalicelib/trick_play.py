"""The storyboard MediaConvert makes: HLS image-based trick play, turned into vod's WebVTT thumbnails track.

MediaConvert tiles thumbnails into JPEG images itself (chalicelib.mediaconvert asks for the same grid
and interval as the ffmpeg adapter's sprite), names the images' playlist in the master with
`#EXT-X-IMAGE-STREAM-INF:…,URI="…"`, and describes every image in that playlist as the Image Media
Playlist specification (0.4, the one Roku reads) lays it out: `#EXTINF` is the time the image covers,
`#EXT-X-TILES:RESOLUTION=<w>x<h>,LAYOUT=<columns>x<rows>,DURATION=<s>` its grid, thumbnails in rows
from the top left, each `DURATION` long. The track is computed from what MediaConvert wrote, not from
what it was asked: it rounds the interval to whole frames, and may start another image when the
thumbnails do not fit one, so a cue may point into any of the images (`<image>#xywh=…`), which WebVTT
thumbnail tracks allow.
"""

from __future__ import annotations

import math
import posixpath
import re
from dataclasses import dataclass, replace

from chalicelib.domain import vtt_timestamp
from chalicelib.playback import MediaFiles

IMAGE_STREAM = "#EXT-X-IMAGE-STREAM-INF:"
TILES = "#EXT-X-TILES:"
STORYBOARD_VTT = "storyboard.vtt"
_ATTRIBUTE = re.compile(r'([A-Z0-9-]+)=("[^"]*"|[^,]*)')


@dataclass(frozen=True)
class TileImage:
    """One tiled JPEG of the image playlist: where it is (relative to the playlist) and what it holds."""

    uri: str
    start_s: float
    duration_s: float
    columns: int
    rows: int
    thumb_width: int
    thumb_height: int
    thumb_duration_s: float


def _attributes(text: str) -> dict[str, str]:
    return {name: value.strip('"') for name, value in _ATTRIBUTE.findall(text)}


def _pair(value: str, name: str) -> tuple[int, int]:
    first, separator, second = value.lower().partition("x")
    if not separator or not first.isdigit() or not second.isdigit() or int(first) < 1 or int(second) < 1:
        raise ValueError(f"EXT-X-TILES {name}={value!r} is not <n>x<n>")
    return int(first), int(second)


def image_playlist_uri(master: str) -> str | None:
    """The image playlist the master names (its first, should there be several); None without one."""
    for line in master.splitlines():
        if line.startswith(IMAGE_STREAM):
            uri = _attributes(line[len(IMAGE_STREAM) :]).get("URI")
            if uri:
                return uri
    return None


def parse_image_playlist(text: str) -> list[TileImage]:
    """Every image of an image media playlist, in order. A `#EXT-X-TILES` holds for the images after it
    until the next one: some playlists repeat it per image, others write it once. Raises ValueError for
    an image without a duration or a grid."""
    tiles: dict[str, str] | None = None
    duration: float | None = None
    start = 0.0
    images: list[TileImage] = []
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith(TILES):
            tiles = _attributes(line[len(TILES) :])
        elif line.startswith("#EXTINF:"):
            duration = float(line[len("#EXTINF:") :].split(",", 1)[0])
        elif line and not line.startswith("#"):
            if duration is None or tiles is None:
                raise ValueError(f"image {line!r} has no #EXTINF or no #EXT-X-TILES before it")
            try:
                columns, rows = _pair(tiles["LAYOUT"], "LAYOUT")
                width, height = _pair(tiles["RESOLUTION"], "RESOLUTION")
                each = float(tiles["DURATION"])
            except KeyError as missing:
                raise ValueError(f"EXT-X-TILES without {missing}") from None
            if each <= 0:
                raise ValueError(f"EXT-X-TILES DURATION={each} is not positive")
            images.append(TileImage(line, start, duration, columns, rows, width, height, each))
            start += duration
            duration = None
    return images


def thumbnails_vtt(images: list[TileImage]) -> str:
    """The WebVTT thumbnails track: a cue per thumbnail, `<image uri>#xywh=x,y,w,h`, as long as its
    thumbnail (the image's last one ends with the image)."""
    lines = ["WEBVTT", ""]
    for image in images:
        end_of_image = image.start_s + image.duration_s
        # Rounded first: 12 / 4 must be 3 thumbnails, not 3.0000000001 → 4.
        held = min(image.columns * image.rows, max(1, math.ceil(round(image.duration_s / image.thumb_duration_s, 6))))
        for index in range(held):
            start = image.start_s + index * image.thumb_duration_s
            end = min(start + image.thumb_duration_s, end_of_image)
            if end <= start:
                break
            x = (index % image.columns) * image.thumb_width
            y = (index // image.columns) * image.thumb_height
            lines += [
                f"{vtt_timestamp(start)} --> {vtt_timestamp(end)}",
                f"{image.uri}#xywh={x},{y},{image.thumb_width},{image.thumb_height}",
                "",
            ]
    return "\n".join(lines)


@dataclass(frozen=True)
class WrittenStoryboard:
    sprite_key: str  # the first image: what VideoReady's storyboard_sprite_key names
    vtt_key: str
    playlist_key: str  # the image playlist, which is no rendition should the job's event list it as one


def write_storyboard(master_key: str, files: MediaFiles) -> WrittenStoryboard | None:
    """Write `storyboard.vtt` beside the master for the trick-play images the master names; None when it
    names no image playlist (or one elsewhere than the bucket). The track's image URIs are relative to
    the track, as the ffmpeg adapter's are, so the same signed cookies open both."""
    folder = posixpath.dirname(master_key)
    uri = image_playlist_uri(files.get_text(master_key))
    if uri is None or "://" in uri or uri.startswith("/"):
        return None
    playlist_key = posixpath.normpath(posixpath.join(folder, uri))
    images = parse_image_playlist(files.get_text(playlist_key))
    if not images:
        return None
    image_keys = [posixpath.normpath(posixpath.join(posixpath.dirname(playlist_key), image.uri)) for image in images]
    relative = [replace(image, uri=posixpath.relpath(key, folder)) for key, image in zip(image_keys, images, strict=True)]
    vtt_key = posixpath.join(folder, STORYBOARD_VTT)
    files.put_text(vtt_key, thumbnails_vtt(relative), "text/vtt")
    return WrittenStoryboard(image_keys[0], vtt_key, playlist_key)

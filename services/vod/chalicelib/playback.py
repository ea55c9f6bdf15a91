"""Protected playback: who may watch a video now, and the signed cookies that open every file of its
stream (playlists, segments, captions) for a few minutes; and the captions' place in the HLS master.

Plain Python: the table, the media store and the signer come in as ports (app.py wires the adapters:
chalicelib.repository, chalicelib.storage, chalicelib.media_signing).

The cookies hold a CloudFront custom policy whose resource is the attempt's outputs folder with a
wildcard, so one set opens the master, every rendition and every segment of that video and nothing
else; their Path is the video's outputs folder, so the cookies of several videos live side by side in
one browser. They expire at the earlier of now + the TTL and the rental's end: CloudFront cannot take
a signed cookie back, so the TTL is what bounds how long a revoked or expired customer keeps watching.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from http.cookies import SimpleCookie
from typing import Any, Protocol

DEFAULT_TTL_SECONDS = 600
ACTIVE = "ACTIVE"
REVOKED = "REVOKED"
SUBTITLES_GROUP = "subs"
SUBTITLES_FOLDER = "subs"

# -- who may watch -------------------------------------------------------------------------------


class PlaybackRefused(Exception):
    """The caller may not watch the video now; `code` says why (the API's 403 code)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class NotReady(Exception):
    """The video has no stream to play yet (or its transcode failed)."""


def _expiry(entitlement: dict[str, Any]) -> datetime | None:
    expires = entitlement.get("expires_at_iso")
    return datetime.fromisoformat(expires) if expires else None


def choose_entitlement(entitlements: list[dict[str, Any]], now: datetime) -> dict[str, Any]:
    """The entitlement that lets its customer watch now: a purchase (no end) before the rental that
    ends last. None active: PlaybackRefused naming why, from the customer's latest entitlement of
    the video (revoked, or a rental whose time is up); none at all: not_entitled."""
    active = [e for e in entitlements if e.get("status") == ACTIVE and ((end := _expiry(e)) is None or now < end)]
    if active:
        return max(active, key=lambda e: (_expiry(e) is None, _expiry(e) or now, e["entitlement_id"]))
    if not entitlements:
        raise PlaybackRefused("not_entitled", "you have no access to this video: buy or rent it first")
    latest = max(entitlements, key=lambda e: (e.get("granted_at", ""), e["entitlement_id"]))
    if latest.get("status") == REVOKED:
        raise PlaybackRefused("access_revoked", "your access to this video was taken back (the order was cancelled or refunded)")
    raise PlaybackRefused("rental_expired", f"your rental of this video ended at {latest.get('expires_at_iso')}")


def cookie_expiry(now: datetime, ttl: timedelta, access_ends: datetime | None) -> datetime:
    """The cookies' DateLessThan: a short TTL, and never past the rental's end."""
    end = now + ttl
    return min(end, access_ends) if access_ends is not None else end


# -- the cookies ---------------------------------------------------------------------------------


def stream_resource(media_base_url: str, output_prefix: str) -> str:
    """The policy's resource: every file under the attempt's outputs (`outputs/<id>/a<n>/`)."""
    return f"{media_base_url.rstrip('/')}/{output_prefix}*"


def cookie_path(video_id: str) -> str:
    """Per video, so that a customer watching two videos keeps both videos' cookies."""
    return f"/outputs/{video_id}/"


@dataclass(frozen=True)
class CookieSettings:
    secure: bool  # AWS: Secure and SameSite=None (the media domain is not the API's); locally http
    domain: str | None = None  # AWS: the parent domain of the API's and the media's custom domains


def set_cookie_headers(
    values: dict[str, str], *, path: str, expires: datetime, now: datetime, settings: CookieSettings
) -> list[str]:
    """One Set-Cookie header value per cookie; the browser drops them when the policy expires."""
    jar: SimpleCookie = SimpleCookie()
    for name, value in values.items():
        jar[name] = value
        morsel = jar[name]
        morsel["path"] = path
        morsel["max-age"] = str(max(0, math.floor((expires - now).total_seconds())))
        morsel["httponly"] = True
        if settings.secure:
            morsel["secure"] = True
            morsel["samesite"] = "None"
        else:
            # A browser refuses SameSite=None without Secure; on one host (127.0.0.1) Lax is same-site.
            morsel["samesite"] = "Lax"
        if settings.domain:
            morsel["domain"] = settings.domain
    return [jar[name].OutputString() for name in values]


# -- captions in the master playlist ---------------------------------------------------------------

_SUBTITLES_ATTRIBUTE = re.compile(r',SUBTITLES="[^"]*"')


def subtitle_keys(output_prefix: str, language: str) -> tuple[str, str]:
    """Where a language's WebVTT copy and its media playlist go: under the protected outputs."""
    folder = f"{output_prefix}{SUBTITLES_FOLDER}/"
    return f"{folder}{language}.vtt", f"{folder}{language}.m3u8"


def subtitles_playlist(language: str, duration_s: float) -> str:
    """An HLS media playlist with the whole WebVTT file as its one segment."""
    return "\n".join(
        [
            "#EXTM3U",
            "#EXT-X-VERSION:3",
            f"#EXT-X-TARGETDURATION:{max(1, math.ceil(duration_s))}",
            "#EXT-X-MEDIA-SEQUENCE:0",
            "#EXT-X-PLAYLIST-TYPE:VOD",
            f"#EXTINF:{duration_s:.3f},",
            f"{language}.vtt",
            "#EXT-X-ENDLIST",
            "",
        ]
    )


def master_with_subtitles(master: str, languages: list[str]) -> str:
    """The transcoder's master with one SUBTITLES rendition per language (none: as it came). Any
    subtitles written before are replaced, so rewriting it after every caption change is safe."""
    kept = [line for line in master.splitlines() if not (line.startswith("#EXT-X-MEDIA:") and "TYPE=SUBTITLES" in line)]
    media = [
        f'#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="{SUBTITLES_GROUP}",NAME="{language}",LANGUAGE="{language}",'
        f'DEFAULT=NO,AUTOSELECT=YES,FORCED=NO,URI="{SUBTITLES_FOLDER}/{language}.m3u8"'
        for language in sorted(languages)
    ]
    lines: list[str] = []
    for line in kept:
        if not line.startswith("#EXT-X-STREAM-INF:"):
            lines.append(line)
            continue
        # The renditions go right before the first variant, which like every variant names their group.
        lines += media
        media = []
        variant = _SUBTITLES_ATTRIBUTE.sub("", line)
        lines.append(f'{variant},SUBTITLES="{SUBTITLES_GROUP}"' if languages else variant)
    return "\n".join(lines) + "\n"


def playlist_duration(media_playlist: str) -> float:
    durations = [line.split(":", 1)[1].split(",", 1)[0] for line in media_playlist.splitlines() if line.startswith("#EXTINF:")]
    return sum(float(duration) for duration in durations)


# -- use cases -----------------------------------------------------------------------------------


class PlaybackStore(Protocol):
    def video(self, video_id: str) -> dict[str, Any] | None: ...

    def entitlements(self, customer_id: str, subject: str | None = None) -> list[dict[str, Any]]: ...

    def record_playback(self, customer_id: str, video_id: str, entitlement_id: str, at: str) -> dict[str, Any]: ...


class Signer(Protocol):
    def signed_cookies(self, resource: str, date_less_than: datetime) -> Any: ...


class MediaFiles(Protocol):
    def get_text(self, key: str) -> str: ...

    def put_text(self, key: str, text: str, content_type: str) -> None: ...


class EntitlementChanged(Exception):
    """The entitlement is no longer ACTIVE (revoked between the read and the playback's record)."""


class VideoNotFound(Exception):
    pass


@dataclass(frozen=True)
class Viewer:
    sub: str
    staff: bool


@dataclass(frozen=True)
class Playback:
    master_url: str
    expires_at: datetime
    cookies: dict[str, str]
    cookie_path: str
    entitlement: dict[str, Any] | None  # None for staff, who need none


# The entitlement read and the playback's record are two requests; a revoke between them makes the
# record's condition fail, and the decision is made again from what the table says then.
PLAYBACK_ATTEMPTS = 2


def start_playback(
    video_id: str,
    viewer: Viewer,
    store: PlaybackStore,
    signer: Signer,
    *,
    media_base_url: str,
    ttl: timedelta,
    now: datetime,
) -> Playback:
    """The signed cookies that open the video's stream, for a customer entitled now (or staff).

    Refused (PlaybackRefused) for no entitlement, an expired rental or revoked access; NotReady for a
    video without outputs; VideoNotFound. A customer's playback start is recorded on the entitlement
    (first_played_at once, last_played_at, play_count)."""
    video = store.video(video_id)
    if video is None:
        raise VideoNotFound(video_id)
    entitlement: dict[str, Any] | None = None
    for attempt in range(1, PLAYBACK_ATTEMPTS + 1):
        if viewer.staff:
            break
        entitlement = choose_entitlement(store.entitlements(viewer.sub, f"VIDEO#{video_id}"), now)
        if video.get("state") != "READY" or not video.get("outputs"):
            break
        try:
            entitlement = store.record_playback(viewer.sub, video_id, entitlement["entitlement_id"], now.isoformat())
            break
        except EntitlementChanged:
            if attempt == PLAYBACK_ATTEMPTS:
                raise PlaybackRefused("access_revoked", "your access to this video changed while playback started") from None
    if video.get("state") != "READY" or not video.get("outputs"):
        raise NotReady(f"video {video_id} is {video.get('state')}: there is nothing to play yet")
    prefix = f"outputs/{video_id}/a{int(video['attempt'])}/"
    expires = cookie_expiry(now, ttl, _expiry(entitlement) if entitlement else None)
    signed = signer.signed_cookies(stream_resource(media_base_url, prefix), expires)
    master_key = str(video["outputs"]["master_playlist_key"])
    return Playback(
        master_url=f"{media_base_url.rstrip('/')}/{master_key}",
        expires_at=expires,
        cookies=dict(signed.values),
        cookie_path=cookie_path(video_id),
        entitlement=entitlement,
    )


def publish_subtitles(video: dict[str, Any], files: MediaFiles) -> list[str]:
    """Put a READY video's captions into its stream: each language's WebVTT copied under the
    attempt's outputs (so the signed cookies cover it), a subtitles playlist per language, and the
    master rewritten with them. Called when the video becomes READY and after every caption change;
    returns the languages published (none for a video that is not READY)."""
    outputs = video.get("outputs")
    if video.get("state") != "READY" or not outputs:
        return []
    prefix = f"outputs/{video['video_id']}/a{int(video['attempt'])}/"
    captions: dict[str, str] = dict(video.get("captions") or {})
    duration_ms = outputs.get("duration_ms")
    if duration_ms:
        duration_s = duration_ms / 1000
    else:
        duration_s = playlist_duration(files.get_text(outputs["renditions"][0]["playlist_key"]))
    for language, key in sorted(captions.items()):
        vtt_key, playlist_key = subtitle_keys(prefix, language)
        files.put_text(vtt_key, files.get_text(key), "text/vtt")
        files.put_text(playlist_key, subtitles_playlist(language, duration_s), "application/vnd.apple.mpegurl")
    master_key = outputs["master_playlist_key"]
    master = files.get_text(master_key)
    rewritten = master_with_subtitles(master, sorted(captions))
    if rewritten != master:
        files.put_text(master_key, rewritten, "application/vnd.apple.mpegurl")
    return sorted(captions)

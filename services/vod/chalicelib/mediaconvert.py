"""The AWS transcoder: Elemental MediaConvert.

`start` probes the source with MediaConvert's Probe, picks the ladder with the same rule as the ffmpeg
adapter (domain.choose_ladder) and creates one job: an HLS group with a rendition per rung and
image-based trick play (the storyboard), and a file group with one frame capture for the poster.
`ClientRequestToken` is the job id the use case derives from the attempt, so a start repeated after a
crash is the same job. Completion and errors arrive as MediaConvert's "Job State Change" events on the
default bus (chalicelib.transcoder parses them; userMetadata names the video and attempt).

The storyboard is MediaConvert's own tiling: `ImageBasedTrickPlay: ADVANCED` with the grid, thumbnail
size and interval of the ffmpeg adapter's sprite (domain.plan_storyboard) writes tiled JPEGs and an
image playlist the master names. MediaConvert writes no WebVTT track, so vod writes `storyboard.vtt`
from that playlist when the job completes (chalicelib.trick_play, called by usecases.finish_transcode).
"""

from __future__ import annotations

import os
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.domain import Probe, Rung, UnusableSource, choose_ladder, plan_storyboard
from chalicelib.transcoder import JobRefused, TranscodeJob

SEGMENT_SECONDS = 4
# MediaConvert's limits on a trick-play thumbnail's size.
THUMBNAIL_WIDTH_MULTIPLE = 8


def probe_result(result: dict[str, Any]) -> Probe:
    """A Probe answer's first result as the ladder rule reads it."""
    container = result.get("Container") or {}
    tracks = container.get("Tracks") or []
    video = next((t for t in tracks if t.get("TrackType") == "video"), None)
    if video is None:
        raise UnusableSource("no video track found")
    properties = video.get("VideoProperties") or {}
    width, height = int(properties.get("Width") or 0), int(properties.get("Height") or 0)
    if abs(int(properties.get("Rotation") or 0)) % 180 == 90:
        width, height = height, width
    duration = float(container.get("Duration") or video.get("Duration") or 0)
    if duration <= 0:
        raise UnusableSource("the file has no duration")
    return Probe(width, height, int(duration * 1000), any(t.get("TrackType") == "audio" for t in tracks))


def trick_play_settings(probe: Probe) -> dict[str, Any]:
    """The ffmpeg adapter's sprite as MediaConvert's tiling: its grid, its interval, and its thumbnail
    size, the width brought down to the multiple of 8 MediaConvert requires (a portrait 90x160 becomes
    88x156), the height kept to the aspect and even."""
    board = plan_storyboard(probe)
    width = max(THUMBNAIL_WIDTH_MULTIPLE, board.thumb_width // THUMBNAIL_WIDTH_MULTIPLE * THUMBNAIL_WIDTH_MULTIPLE)
    height = max(2, round(width * board.thumb_height / board.thumb_width / 2) * 2)
    return {
        "TileWidth": board.columns,
        "TileHeight": board.rows,
        "ThumbnailWidth": width,
        "ThumbnailHeight": height,
        "IntervalCadence": "FOLLOW_CUSTOM",
        "ThumbnailInterval": float(board.interval_s),
    }


def job_settings(job: TranscodeJob, probe: Probe, ladder: list[Rung]) -> dict[str, Any]:
    destination = f"s3://{job.bucket}/{job.output_prefix}"
    inputs: dict[str, Any] = {
        "FileInput": f"s3://{job.bucket}/{job.source_key}",
        "TimecodeSource": "ZEROBASED",
        "VideoSelector": {},
    }
    if probe.has_audio:
        inputs["AudioSelectors"] = {"Audio Selector 1": {"DefaultSelection": "DEFAULT"}}
    hls_outputs = []
    for rung in ladder:
        output: dict[str, Any] = {
            "NameModifier": f"_{rung.name}",
            "ContainerSettings": {"Container": "M3U8", "M3u8Settings": {}},
            "VideoDescription": {
                "Width": rung.width,
                "Height": rung.height,
                "ScalingBehavior": "DEFAULT",
                "CodecSettings": {
                    "Codec": "H_264",
                    "H264Settings": {
                        "RateControlMode": "QVBR",
                        "MaxBitrate": rung.video_kbps * 1500,
                        "QvbrSettings": {"QvbrQualityLevel": 7},
                        "GopSize": 2,
                        "GopSizeUnits": "SECONDS",
                        "SceneChangeDetect": "TRANSITION_DETECTION",
                    },
                },
            },
        }
        if probe.has_audio:
            output["AudioDescriptions"] = [
                {
                    "AudioSourceName": "Audio Selector 1",
                    "CodecSettings": {
                        "Codec": "AAC",
                        "AacSettings": {"Bitrate": 128000, "CodingMode": "CODING_MODE_2_0", "SampleRate": 48000},
                    },
                }
            ]
        hls_outputs.append(output)
    return {
        "TimecodeConfig": {"Source": "ZEROBASED"},
        "Inputs": [inputs],
        "OutputGroups": [
            {
                "Name": "HLS",
                "OutputGroupSettings": {
                    "Type": "HLS_GROUP_SETTINGS",
                    "HlsGroupSettings": {
                        "Destination": f"{destination}master",
                        "SegmentLength": SEGMENT_SECONDS,
                        "MinSegmentLength": 0,
                        "DirectoryStructure": "SINGLE_DIRECTORY",
                        "ManifestDurationFormat": "INTEGER",
                        "OutputSelection": "MANIFESTS_AND_SEGMENTS",
                        "ImageBasedTrickPlay": "ADVANCED",
                        "ImageBasedTrickPlaySettings": trick_play_settings(probe),
                    },
                },
                "Outputs": hls_outputs,
            },
            {
                "Name": "Poster",
                "OutputGroupSettings": {"Type": "FILE_GROUP_SETTINGS", "FileGroupSettings": {"Destination": f"{destination}"}},
                "Outputs": [
                    {
                        "NameModifier": "poster",
                        "ContainerSettings": {"Container": "RAW"},
                        "VideoDescription": {
                            "Width": ladder[0].width,
                            "Height": ladder[0].height,
                            "CodecSettings": {
                                "Codec": "FRAME_CAPTURE",
                                "FrameCaptureSettings": {
                                    "FramerateNumerator": 1,
                                    "FramerateDenominator": 1,
                                    "MaxCaptures": 1,
                                    "Quality": 90,
                                },
                            },
                        },
                    },
                ],
            },
        ],
    }


class MediaConvertTranscoder:
    def __init__(self, client: Any, role_arn: str, queue_arn: str | None = None) -> None:
        self._client = client
        self._role = role_arn
        self._queue = queue_arn

    @classmethod
    def from_environment(cls, session: Any) -> MediaConvertTranscoder:
        """VOD_MEDIACONVERT_ROLE_ARN: the role MediaConvert assumes to read and write the media bucket;
        VOD_MEDIACONVERT_ENDPOINT: the account's endpoint where one is still required; VOD_MEDIACONVERT_QUEUE."""
        endpoint = os.environ.get("VOD_MEDIACONVERT_ENDPOINT") or None
        return cls(
            session.client("mediaconvert", endpoint_url=endpoint),
            os.environ["VOD_MEDIACONVERT_ROLE_ARN"],
            os.environ.get("VOD_MEDIACONVERT_QUEUE") or None,
        )

    def probe(self, job: TranscodeJob) -> Probe:
        try:
            answer = self._client.probe(InputFiles=[{"FileUrl": f"s3://{job.bucket}/{job.source_key}"}])
        except ClientError as error:
            if error.response["Error"]["Code"] in ("BadRequestException", "NotFoundException"):
                raise JobRefused(
                    "probe_failed", error.response["Error"].get("Message", "MediaConvert could not probe the source")
                ) from None
            raise
        results = answer.get("ProbeResults") or []
        if not results:
            raise JobRefused("probe_failed", "MediaConvert found nothing to probe")
        try:
            return probe_result(results[0])
        except UnusableSource as unusable:
            raise JobRefused("probe_failed", str(unusable)) from None

    def create_job_request(self, job: TranscodeJob, probe: Probe) -> dict[str, Any]:
        try:
            ladder = choose_ladder(probe)
        except UnusableSource as unusable:
            raise JobRefused("probe_failed", str(unusable)) from None
        request: dict[str, Any] = {
            "Role": self._role,
            "Settings": job_settings(job, probe, ladder),
            "UserMetadata": job.user_metadata(),
            "ClientRequestToken": job.job_id,
            "StatusUpdateInterval": "SECONDS_60",
            "Tags": {"shop:video": job.video_id},
        }
        if self._queue:
            request["Queue"] = self._queue
        return request

    def start(self, job: TranscodeJob) -> str:
        probe = self.probe(job)
        created = self._client.create_job(**self.create_job_request(job, probe))
        return str(created["Job"]["Id"])

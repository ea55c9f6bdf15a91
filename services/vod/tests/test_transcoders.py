"""The two transcoder adapters without running a job: what ffmpeg's probe output means, the
MediaConvert requests (validated by botocore against MediaConvert's own service model through
Stubber, never sent to AWS) and MediaConvert's job state-change events as EventBridge delivers them."""

from __future__ import annotations

import copy

import botocore.session
import pytest
from botocore.exceptions import ParamValidationError
from botocore.stub import Stubber

from chalicelib.domain import Probe, UnusableSource, choose_ladder
from chalicelib.ffmpeg_transcoder import parse_probe
from chalicelib.mediaconvert import MediaConvertTranscoder, probe_result
from chalicelib.transcoder import JobRefused, NotAJobEvent, TranscodeJob, job_state_change, parse_job_state_change

# What `ffmpeg -i` prints about the clips the ingest tests make (lines as ffmpeg prints them).
LANDSCAPE = "\n".join(
    [
        "Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'source':",
        "  Duration: 00:00:02.50, start: 0.000000, bitrate: 215 kb/s",
        "  Stream #0:0[0x1](und): Video: h264 (Constrained Baseline) (avc1 / 0x31637661), yuv420p(progressive), "
        "320x180 [SAR 1:1 DAR 16:9], 136 kb/s, 25 fps, 25 tbr, 12800 tbn (default)",
        "  Stream #0:1[0x2](und): Audio: aac (LC) (mp4a / 0x6134706D), 44100 Hz, mono, fltp, 69 kb/s (default)",
        "At least one output file must be specified",
    ]
)
PHONE = """  Duration: 00:01:02.04, start: 0.000000, bitrate: 9000 kb/s
  Stream #0:0[0x1](und): Video: hevc (Main) (hvc1 / 0x31637668), yuv420p(tv, bt709), 1920x1080, 8000 kb/s, 29.97 fps (default)
      Side data:
        Display Matrix: rotation of -90.00 degrees
"""
NOT_A_VIDEO = """[in#0 @ 0x5581] Error opening input: Invalid data found when processing input
Error opening input file source.
Error opening input files: Invalid data found when processing input
"""
AUDIO_ONLY = """  Duration: 00:03:00.00, start: 0.000000, bitrate: 128 kb/s
  Stream #0:0: Audio: mp3, 44100 Hz, stereo, fltp, 128 kb/s
"""
JOB = TranscodeJob("vid_1", 2, "vid_1-a2", "shop-dev-vod-media", "sources/vid_1/source", "outputs/vid_1/a2/", "dev")


def test_ffmpeg_probe_reads_size_duration_and_audio():
    assert parse_probe(LANDSCAPE) == Probe(320, 180, 2500, True)


def test_a_rotated_phone_video_probes_as_portrait():
    assert parse_probe(PHONE) == Probe(1080, 1920, 62040, False)


@pytest.mark.parametrize(
    ("text", "reason"), [(NOT_A_VIDEO, "Invalid data found"), (AUDIO_ONLY, "no video stream"), ("", "no video")]
)
def test_what_is_not_a_video_is_unusable_with_ffmpegs_reason(text, reason):
    with pytest.raises(UnusableSource, match=reason):
        parse_probe(text)


# -- MediaConvert --------------------------------------------------------------------------------


def mediaconvert_client():
    return botocore.session.get_session().create_client(
        "mediaconvert", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x"
    )


def probe_answer(width: int, height: int, *, audio: bool = True, rotation: int = 0) -> dict:
    tracks = [
        {"TrackType": "video", "Codec": "H_264", "VideoProperties": {"Width": width, "Height": height, "Rotation": rotation}}
    ]
    if audio:
        tracks.append({"TrackType": "audio", "Codec": "AAC", "AudioProperties": {"Channels": 2, "SampleRate": 48000}})
    return {"ProbeResults": [{"Container": {"Duration": 12.5, "Format": "mp4", "Tracks": tracks}}]}


def test_mediaconvert_probe_answers_are_read_like_ffmpegs():
    assert probe_result(probe_answer(1920, 1080)["ProbeResults"][0]) == Probe(1920, 1080, 12500, True)
    assert probe_result(probe_answer(1920, 1080, audio=False, rotation=90)["ProbeResults"][0]) == Probe(1080, 1920, 12500, False)


@pytest.mark.parametrize(("width", "height", "audio"), [(1920, 1080, True), (1080, 1920, True), (320, 180, False)])
def test_the_mediaconvert_job_is_valid_for_mediaconverts_service_model(width, height, audio):
    client = mediaconvert_client()
    transcoder = MediaConvertTranscoder(client, "arn:aws:iam::123456789012:role/shop-dev-vod-mediaconvert")
    expected = transcoder.create_job_request(JOB, Probe(width, height, 12500, audio))
    with Stubber(client) as stub:
        stub.add_response(
            "probe",
            probe_answer(width, height, audio=audio),
            {"InputFiles": [{"FileUrl": "s3://shop-dev-vod-media/sources/vid_1/source"}]},
        )
        stub.add_response(
            "create_job", {"Job": {"Id": "1700000000000-abc123", "Role": expected["Role"], "Settings": {}}}, expected
        )

        assert transcoder.start(JOB) == "1700000000000-abc123"
        stub.assert_no_pending_responses()

    renditions = expected["Settings"]["OutputGroups"][0]["Outputs"]
    ladder = choose_ladder(Probe(width, height, 12500, audio))
    assert [(o["VideoDescription"]["Width"], o["VideoDescription"]["Height"]) for o in renditions] == [
        (r.width, r.height) for r in ladder
    ]
    assert all(("AudioDescriptions" in o) == audio for o in renditions)
    assert expected["ClientRequestToken"] == "vid_1-a2"  # a repeated start is the same job
    assert expected["UserMetadata"] == {"video_id": "vid_1", "attempt": "2", "shop_job_id": "vid_1-a2", "shop_stage": "dev"}
    hls = expected["Settings"]["OutputGroups"][0]["OutputGroupSettings"]["HlsGroupSettings"]
    assert (hls["Destination"], hls["SegmentLength"]) == ("s3://shop-dev-vod-media/outputs/vid_1/a2/master", 4)


def test_the_service_model_check_bites():
    """Guards against a vacuous pass: a setting MediaConvert's model refuses fails before any request."""
    client = mediaconvert_client()
    request = MediaConvertTranscoder(client, "arn:aws:iam::1:role/r").create_job_request(JOB, Probe(1920, 1080, 12500, True))
    broken = copy.deepcopy(request)
    broken["Settings"]["OutputGroups"][0]["Outputs"][0]["VideoDescription"]["Width"] = "1920"
    with Stubber(client) as stub:
        stub.add_response("create_job", {"Job": {"Role": "r", "Settings": {}}}, broken)
        with pytest.raises(ParamValidationError, match="Width"):
            client.create_job(**broken)


def test_a_source_mediaconvert_cannot_probe_is_refused_at_once():
    client = mediaconvert_client()
    transcoder = MediaConvertTranscoder(client, "arn:aws:iam::1:role/r")
    with Stubber(client) as stub:
        stub.add_client_error(
            "probe", service_error_code="BadRequestException", service_message="Unsupported file format", http_status_code=400
        )
        with pytest.raises(JobRefused) as refused:
            transcoder.start(JOB)

    assert (refused.value.code, refused.value.message) == ("probe_failed", "Unsupported file format")


# -- job state changes, as EventBridge delivers MediaConvert's ----------------------------------------

COMPLETE = {
    "version": "0",
    "id": "1e3b6f7d-0f5e-2d1c-9a0b-4c5d6e7f8a9b",
    "detail-type": "MediaConvert Job State Change",
    "source": "aws.mediaconvert",
    "account": "123456789012",
    "time": "2026-11-29T10:20:31Z",
    "region": "eu-west-1",
    "resources": ["arn:aws:mediaconvert:eu-west-1:123456789012:jobs/1700000000000-abc123"],
    "detail": {
        "timestamp": 1764411631000,
        "accountId": "123456789012",
        "queue": "arn:aws:mediaconvert:eu-west-1:123456789012:queues/Default",
        "jobId": "1700000000000-abc123",
        "status": "COMPLETE",
        "userMetadata": {"video_id": "vid_1", "attempt": "2", "shop_job_id": "vid_1-a2", "shop_stage": "dev"},
        "outputGroupDetails": [
            {
                "outputDetails": [
                    {
                        "outputFilePaths": ["s3://shop-dev-vod-media/outputs/vid_1/a2/master_720p.m3u8"],
                        "durationInMs": 12500,
                        "videoDetails": {"widthInPx": 1280, "heightInPx": 720, "averageBitrate": 2700000},
                    },
                    {
                        "outputFilePaths": ["s3://shop-dev-vod-media/outputs/vid_1/a2/master_360p.m3u8"],
                        "durationInMs": 12500,
                        "videoDetails": {"widthInPx": 640, "heightInPx": 360, "averageBitrate": 690000},
                    },
                ],
                "playlistFilePaths": ["s3://shop-dev-vod-media/outputs/vid_1/a2/master.m3u8"],
                "type": "HLS_GROUP",
            },
            {
                "outputDetails": [
                    {
                        "outputFilePaths": ["s3://shop-dev-vod-media/outputs/vid_1/a2/sourceposter.0000000.jpg"],
                        "durationInMs": 12500,
                    },
                    {
                        "outputFilePaths": ["s3://shop-dev-vod-media/outputs/vid_1/a2/sourcestoryboard.0000012.jpg"],
                        "durationInMs": 12500,
                    },
                ],
                "type": "FILE_GROUP",
            },
        ],
    },
}
ERROR = {
    **COMPLETE,
    "detail": {
        "timestamp": 1764411631000,
        "accountId": "123456789012",
        "queue": "arn:aws:mediaconvert:eu-west-1:123456789012:queues/Default",
        "jobId": "1700000000000-abc123",
        "status": "ERROR",
        "errorCode": 1010,
        "errorMessage": "Unable to open input file [s3://shop-dev-vod-media/sources/vid_1/source]: [Failed probe/open]",
        "userMetadata": {"video_id": "vid_1", "attempt": "2", "shop_job_id": "vid_1-a2", "shop_stage": "dev"},
    },
}


def test_a_complete_job_names_its_playlists_poster_and_storyboard():
    outcome = parse_job_state_change(COMPLETE, "dev")

    assert outcome is not None
    assert (outcome.video_id, outcome.attempt, outcome.job_id, outcome.status) == ("vid_1", 2, "1700000000000-abc123", "COMPLETE")
    assert (outcome.bucket, outcome.master_playlist_key) == ("shop-dev-vod-media", "outputs/vid_1/a2/master.m3u8")
    assert [(r.width, r.height, r.playlist_key) for r in outcome.renditions] == [
        (1280, 720, "outputs/vid_1/a2/master_720p.m3u8"),
        (640, 360, "outputs/vid_1/a2/master_360p.m3u8"),
    ]
    assert outcome.poster_key == "outputs/vid_1/a2/sourceposter.0000000.jpg"
    assert outcome.storyboard_sprite_key == "outputs/vid_1/a2/sourcestoryboard.0000012.jpg"
    assert outcome.duration_ms == 12500


def test_an_errored_job_carries_mediaconverts_code_and_message():
    outcome = parse_job_state_change(ERROR, "dev")

    assert outcome is not None
    assert (outcome.status, outcome.error_code) == ("ERROR", "1010")
    assert "Failed probe/open" in (outcome.error_message or "")


def test_progress_and_other_stages_jobs_are_not_outcomes():
    progressing = {**COMPLETE, "detail": {**COMPLETE["detail"], "status": "PROGRESSING"}}

    assert parse_job_state_change(progressing, "dev") is None
    assert parse_job_state_change(COMPLETE, "prod") is None


@pytest.mark.parametrize(
    "event",
    [
        {**COMPLETE, "source": "aws.s3"},
        {**COMPLETE, "detail": {**COMPLETE["detail"], "userMetadata": {"shop_stage": "dev"}}},
        {**COMPLETE, "detail": {**COMPLETE["detail"], "outputGroupDetails": []}},
        {**COMPLETE, "detail": "nope"},
    ],
)
def test_anything_else_is_not_a_job_event(event):
    with pytest.raises(NotAJobEvent):
        parse_job_state_change(event, "dev")


def test_the_ffmpeg_adapters_event_has_mediaconverts_shape():
    made = job_state_change(JOB, "COMPLETE", detail={"outputGroupDetails": COMPLETE["detail"]["outputGroupDetails"]})

    assert set(made) == set(COMPLETE)
    assert set(made["detail"]) == set(COMPLETE["detail"])
    outcome = parse_job_state_change(made, "dev")
    assert outcome is not None and outcome.master_playlist_key == "outputs/vid_1/a2/master.m3u8"

"""The two transcoder adapters without running a job: what ffmpeg's probe output means, the
MediaConvert requests (validated by botocore against MediaConvert's own service model through
Stubber, never sent to AWS), MediaConvert's job state-change events as EventBridge delivers them, and
the WebVTT storyboard track vod writes from MediaConvert's trick-play images."""

from __future__ import annotations

import copy
import json

import boto3
import botocore.session
import pytest
from botocore.exceptions import ParamValidationError
from botocore.stub import Stubber

from chalicelib.domain import Probe, UnusableSource, check_webvtt, choose_ladder, plan_storyboard
from chalicelib.ffmpeg_transcoder import parse_probe
from chalicelib.mediaconvert import MediaConvertTranscoder, probe_result
from chalicelib.transcoder import JobRefused, NotAJobEvent, TranscodeJob, job_state_change, parse_job_state_change
from chalicelib.trick_play import image_playlist_uri, parse_image_playlist, thumbnails_vtt, write_storyboard
from shop_devstack.testing import LOCAL_NAMING, lambda_sqs_event

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
    # The storyboard is MediaConvert's tiling, with the ffmpeg sprite's grid and interval.
    board = plan_storyboard(Probe(width, height, 12500, audio))
    tiling = hls["ImageBasedTrickPlaySettings"]
    assert hls["ImageBasedTrickPlay"] == "ADVANCED"
    assert (tiling["TileWidth"], tiling["TileHeight"], tiling["ThumbnailInterval"]) == (board.columns, board.rows, 1.0)
    assert tiling["IntervalCadence"] == "FOLLOW_CUSTOM"
    [poster] = expected["Settings"]["OutputGroups"][1]["Outputs"]
    assert poster["NameModifier"] == "poster"  # the storyboard is no frame capture any more


@pytest.mark.parametrize(
    ("width", "height", "thumbnail"),
    [
        (1920, 1080, (160, 90)),
        # MediaConvert wants widths in multiples of 8: a portrait 90x160 becomes 88x156, its aspect kept.
        (1080, 1920, (88, 156)),
        (1080, 1080, (160, 160)),
        (1920, 804, (160, 68)),
    ],
)
def test_trick_play_thumbnails_have_a_size_mediaconvert_takes(width, height, thumbnail):
    request = MediaConvertTranscoder(mediaconvert_client(), "arn:aws:iam::1:role/r").create_job_request(
        JOB, Probe(width, height, 600_000, True)
    )
    hls = request["Settings"]["OutputGroups"][0]["OutputGroupSettings"]["HlsGroupSettings"]
    tiling = hls["ImageBasedTrickPlaySettings"]

    assert (tiling["ThumbnailWidth"], tiling["ThumbnailHeight"]) == thumbnail
    assert tiling["ThumbnailWidth"] % 8 == 0 and tiling["ThumbnailHeight"] % 2 == 0
    # Ten minutes: one thumbnail every 6 s, a hundred of them in one 10x10 image.
    assert (tiling["TileWidth"], tiling["TileHeight"], tiling["ThumbnailInterval"]) == (10, 10, 6.0)


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


def test_the_service_model_knows_the_trick_play_settings():
    """A misspelt tiling member is refused by the model, so the valid request above names real ones."""
    client = mediaconvert_client()
    request = MediaConvertTranscoder(client, "arn:aws:iam::1:role/r").create_job_request(JOB, Probe(1920, 1080, 12500, True))
    broken = copy.deepcopy(request)
    tiling = broken["Settings"]["OutputGroups"][0]["OutputGroupSettings"]["HlsGroupSettings"]["ImageBasedTrickPlaySettings"]
    tiling["TileColumns"] = tiling.pop("TileWidth")
    with Stubber(client) as stub:
        stub.add_response("create_job", {"Job": {"Role": "r", "Settings": {}}}, broken)
        with pytest.raises(ParamValidationError, match="TileColumns"):
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
    # MediaConvert's event names no storyboard: vod writes the track from the trick-play playlist.
    assert (outcome.storyboard_sprite_key, outcome.storyboard_vtt_key) == (None, None)
    assert outcome.duration_ms == 12500


def test_an_output_without_a_picture_size_is_no_rendition():
    [hls, files] = copy.deepcopy(COMPLETE["detail"]["outputGroupDetails"])
    hls["outputDetails"].append(
        {"outputFilePaths": ["s3://shop-dev-vod-media/outputs/vid_1/a2/master_thumb.m3u8"], "durationInMs": 12500}
    )
    event = {**COMPLETE, "detail": {**COMPLETE["detail"], "outputGroupDetails": [hls, files]}}

    outcome = parse_job_state_change(event, "dev")

    assert outcome is not None
    assert [r.playlist_key for r in outcome.renditions] == [
        "outputs/vid_1/a2/master_720p.m3u8",
        "outputs/vid_1/a2/master_360p.m3u8",
    ]


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


# -- MediaConvert's trick-play images as vod's WebVTT thumbnails track ------------------------------

# A master as MediaConvert writes it with image-based trick play (the image playlist's name is MediaConvert's
# business: vod follows the URI), and the image media playlist (Image Media Playlist spec 0.4): a 10x10 grid
# of 160x90 thumbnails, one a second, so 105 s take a full image and one with five thumbnails.
TRICK_PLAY_MASTER = """#EXTM3U
#EXT-X-VERSION:3
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-STREAM-INF:BANDWIDTH=2928000,AVERAGE-BANDWIDTH=2700000,CODECS="avc1.64001f,mp4a.40.2",RESOLUTION=1280x720
master_720p.m3u8
#EXT-X-IMAGE-STREAM-INF:BANDWIDTH=18000,RESOLUTION=1600x900,CODECS="jpeg",URI="thumbs/master_thumb.m3u8"
"""
IMAGE_PLAYLIST = """#EXTM3U
#EXT-X-VERSION:7
#EXT-X-TARGETDURATION:100
#EXT-X-MEDIA-SEQUENCE:1
#EXT-X-IMAGES-ONLY
#EXT-X-PLAYLIST-TYPE:VOD
#EXTINF:100,
#EXT-X-TILES:RESOLUTION=160x90,LAYOUT=10x10,DURATION=1
master_thumb_000000001.jpg
#EXTINF:5,
#EXT-X-TILES:RESOLUTION=160x90,LAYOUT=10x10,DURATION=1
master_thumb_000000002.jpg
#EXT-X-ENDLIST
"""


class Bucket:
    """The media bucket as trick_play reads and writes it (MediaFiles)."""

    def __init__(self, objects: dict[str, str]) -> None:
        self.objects = dict(objects)
        self.types: dict[str, str] = {}

    def get_text(self, key: str) -> str:
        return self.objects[key]

    def put_text(self, key: str, text: str, content_type: str) -> None:
        self.objects[key] = text
        self.types[key] = content_type


def cues(vtt: str) -> list[tuple[str, str]]:
    lines = vtt.splitlines()
    return [(line, lines[i + 1]) for i, line in enumerate(lines) if "-->" in line]


def test_the_master_names_its_image_playlist():
    assert image_playlist_uri(TRICK_PLAY_MASTER) == "thumbs/master_thumb.m3u8"
    assert image_playlist_uri(TRICK_PLAY_MASTER.replace("#EXT-X-IMAGE-STREAM-INF", "#EXT-X-I-FRAME-STREAM-INF")) is None


def test_each_image_covers_its_own_span_of_the_video():
    images = parse_image_playlist(IMAGE_PLAYLIST)

    assert [(i.uri, i.start_s, i.duration_s) for i in images] == [
        ("master_thumb_000000001.jpg", 0.0, 100.0),
        ("master_thumb_000000002.jpg", 100.0, 5.0),
    ]
    assert {(i.columns, i.rows, i.thumb_width, i.thumb_height, i.thumb_duration_s) for i in images} == {(10, 10, 160, 90, 1.0)}


def test_every_cue_points_at_its_thumbnail_in_its_image():
    vtt = thumbnails_vtt(parse_image_playlist(IMAGE_PLAYLIST))
    found = cues(vtt)

    check_webvtt(vtt)
    assert len(found) == 105
    assert found[0] == ("00:00:00.000 --> 00:00:01.000", "master_thumb_000000001.jpg#xywh=0,0,160,90")
    assert found[9] == ("00:00:09.000 --> 00:00:10.000", "master_thumb_000000001.jpg#xywh=1440,0,160,90")
    assert found[10] == ("00:00:10.000 --> 00:00:11.000", "master_thumb_000000001.jpg#xywh=0,90,160,90")
    assert found[99] == ("00:01:39.000 --> 00:01:40.000", "master_thumb_000000001.jpg#xywh=1440,810,160,90")
    # The second image starts its grid again at the top left.
    assert found[100] == ("00:01:40.000 --> 00:01:41.000", "master_thumb_000000002.jpg#xywh=0,0,160,90")
    assert found[104] == ("00:01:44.000 --> 00:01:45.000", "master_thumb_000000002.jpg#xywh=640,0,160,90")


def test_a_last_thumbnail_ends_with_the_video_and_one_tiles_tag_may_serve_every_image():
    playlist = "\n".join(
        [
            "#EXTM3U",
            "#EXT-X-IMAGES-ONLY",
            "#EXT-X-TILES:RESOLUTION=88x156,LAYOUT=3x1,DURATION=1.001",
            "#EXTINF:2.5,",
            "a.jpg",
            "#EXTINF:1.001,",
            "b.jpg",
            "#EXT-X-ENDLIST",
        ]
    )

    assert cues(thumbnails_vtt(parse_image_playlist(playlist))) == [
        ("00:00:00.000 --> 00:00:01.001", "a.jpg#xywh=0,0,88,156"),
        ("00:00:01.001 --> 00:00:02.002", "a.jpg#xywh=88,0,88,156"),
        ("00:00:02.002 --> 00:00:02.500", "a.jpg#xywh=176,0,88,156"),
        ("00:00:02.500 --> 00:00:03.501", "b.jpg#xywh=0,0,88,156"),
    ]


@pytest.mark.parametrize(
    ("playlist", "reason"),
    [
        ("#EXTM3U\n#EXTINF:10,\na.jpg\n", "no #EXTINF or no #EXT-X-TILES"),
        ("#EXTM3U\n#EXT-X-TILES:RESOLUTION=160x90,LAYOUT=10x10,DURATION=1\na.jpg\n", "no #EXTINF"),
        ("#EXTM3U\n#EXT-X-TILES:RESOLUTION=160x90,DURATION=1\n#EXTINF:10,\na.jpg\n", "without 'LAYOUT'"),
        ("#EXTM3U\n#EXT-X-TILES:RESOLUTION=160,LAYOUT=10x10,DURATION=1\n#EXTINF:10,\na.jpg\n", "RESOLUTION='160'"),
        ("#EXTM3U\n#EXT-X-TILES:RESOLUTION=160x90,LAYOUT=10x10,DURATION=0\n#EXTINF:10,\na.jpg\n", "not positive"),
    ],
)
def test_an_image_playlist_without_a_grid_is_refused(playlist, reason):
    with pytest.raises(ValueError, match=reason):
        parse_image_playlist(playlist)


def test_the_storyboard_track_is_written_beside_the_master_pointing_into_the_images():
    prefix = "outputs/vid_1/a2/"
    bucket = Bucket({f"{prefix}master.m3u8": TRICK_PLAY_MASTER, f"{prefix}thumbs/master_thumb.m3u8": IMAGE_PLAYLIST})

    written = write_storyboard(f"{prefix}master.m3u8", bucket)

    assert written is not None
    assert (written.sprite_key, written.vtt_key, written.playlist_key) == (
        f"{prefix}thumbs/master_thumb_000000001.jpg",
        f"{prefix}storyboard.vtt",
        f"{prefix}thumbs/master_thumb.m3u8",
    )
    assert bucket.types[f"{prefix}storyboard.vtt"] == "text/vtt"
    found = cues(bucket.objects[f"{prefix}storyboard.vtt"])
    # Relative to the track, as the ffmpeg adapter's `storyboard.jpg#xywh=…` are.
    assert found[0][1] == "thumbs/master_thumb_000000001.jpg#xywh=0,0,160,90"
    assert found[100][1] == "thumbs/master_thumb_000000002.jpg#xywh=0,0,160,90"


def test_a_master_without_trick_play_gets_no_storyboard():
    prefix = "outputs/vid_1/a2/"
    master = TRICK_PLAY_MASTER.replace(
        '#EXT-X-IMAGE-STREAM-INF:BANDWIDTH=18000,RESOLUTION=1600x900,CODECS="jpeg",URI="thumbs/master_thumb.m3u8"\n', ""
    )
    bucket = Bucket({f"{prefix}master.m3u8": master})

    assert write_storyboard(f"{prefix}master.m3u8", bucket) is None
    assert list(bucket.objects) == [f"{prefix}master.m3u8"]


BUCKET = "shop-local-vod-media"


def transcoding_on_mediaconvert(client, vod_app, image_playlist: str) -> tuple[str, str, dict]:
    """What MediaConvert leaves on AWS, put in the embedded AWS's bucket by hand: a master naming an image
    playlist of tiled thumbnails; and the job's COMPLETE event, which names no storyboard. Returns the
    video (TRANSCODING at attempt 1), its outputs' prefix and the event."""
    created = client.http.post("/videos", headers={"Content-Type": "application/json"}, body=json.dumps({"title": "Tiles"}))
    video_id = json.loads(created.body)["video_id"]
    uow = vod_app.unit_of_work()
    uow.move_video(video_id, from_states={"CREATED"}, attempt=0, changes={"state": "TRANSCODING", "attempt": 1})
    uow.commit()
    prefix = f"outputs/{video_id}/a1/"
    s3 = boto3.client("s3")
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}master.m3u8", Body=TRICK_PLAY_MASTER.encode())
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}thumbs/master_thumb.m3u8", Body=image_playlist.encode())
    event = json.loads(json.dumps(COMPLETE).replace("shop-dev-vod-media/outputs/vid_1/a2/", f"{BUCKET}/{prefix}"))
    event["detail"]["userMetadata"] = {
        "video_id": video_id,
        "attempt": "1",
        "shop_job_id": f"{video_id}-a1",
        "shop_stage": "local",
    }
    return video_id, prefix, event


def test_a_mediaconvert_jobs_trick_play_images_become_the_storyboard_track(client, vod_app, aws):
    """Through vod's job-events function, the track is written before VideoReady names it, with the first
    image as the sprite."""
    video_id, prefix, event = transcoding_on_mediaconvert(client, vod_app, IMAGE_PLAYLIST)
    # Should MediaConvert list the images' playlist among the HLS outputs, it is no rendition.
    event["detail"]["outputGroupDetails"][0]["outputDetails"].append(
        {
            "outputFilePaths": [f"s3://{BUCKET}/{prefix}thumbs/master_thumb.m3u8"],
            "durationInMs": 12500,
            "videoDetails": {"widthInPx": 1600, "heightInPx": 900},
        }
    )
    queue_arn = f"arn:aws:sqs:us-east-1:123456789012:{LOCAL_NAMING.queue('vod', 'transcode-jobs')}"

    handled = vod_app.transcode_job_events(lambda_sqs_event(json.dumps(event), queue_arn=queue_arn), None)

    assert handled == {"batchItemFailures": []}
    outputs = vod_app.repository.video(video_id)["outputs"]
    assert (outputs["storyboard_sprite_key"], outputs["storyboard_vtt_key"]) == (
        f"{prefix}thumbs/master_thumb_000000001.jpg",
        f"{prefix}storyboard.vtt",
    )
    assert [r["name"] for r in outputs["renditions"]] == ["720p", "360p"]
    vtt = boto3.client("s3").get_object(Bucket=BUCKET, Key=outputs["storyboard_vtt_key"])
    assert vtt["ContentType"] == "text/vtt"
    text = vtt["Body"].read().decode()
    assert text.count("-->") == 105
    assert "00:01:40.000 --> 00:01:41.000\nthumbs/master_thumb_000000002.jpg#xywh=0,0,160,90" in text
    [ready] = [item["detail"] for item in aws.outbox(correlation_id=video_id) if item["event_type"] == "VideoReady"]
    assert ready["data"]["outputs"] == outputs


def test_an_image_playlist_vod_cannot_read_leaves_the_video_ready_without_a_storyboard(client, vod_app, aws):
    from chalicelib import usecases

    video_id, _, event = transcoding_on_mediaconvert(client, vod_app, IMAGE_PLAYLIST.replace("LAYOUT=10x10,", ""))
    outcome = parse_job_state_change(event, "local")
    assert outcome is not None

    result = usecases.finish_transcode(outcome, vod_app.repository, vod_app.unit_of_work, vod_app.media_store())

    assert result == "COMPLETE without a storyboard: EXT-X-TILES without 'LAYOUT'"
    video = vod_app.repository.video(video_id)
    assert video["state"] == "READY"
    assert (video["outputs"]["storyboard_sprite_key"], video["outputs"]["storyboard_vtt_key"]) == (None, None)

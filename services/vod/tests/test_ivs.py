"""The IVS adapter without AWS: its requests validated by botocore against IVS's own service model
through Stubber (never sent), IVS's EventBridge events as the IVS user guide shows them, the
recordings' metadata file, and playback tokens as IVS verifies them (ES384 with the imported public key)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta

import botocore.session
import jwt
import pytest
from botocore.exceptions import ClientError, ParamValidationError
from botocore.stub import Stubber
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from chalicelib.ivs import (
    METADATA_MAX_BYTES,
    IvsChannels,
    LiveSignal,
    MetadataTooLarge,
    NotALiveEvent,
    parse_live_event,
    pin_metadata,
    playback_token,
    recording_from_metadata,
    with_token,
)

CHANNEL_ARN = "arn:aws:ivs:us-west-2:123456789012:channel/AbCdef1G2hij"
RECORDING_ARN = "arn:aws:ivs:us-west-2:123456789012:recording-configuration/rEc0nf1g"
PREFIX = "ivs/v1/123456789012/AbCdef1G2hij/2020/6/23/20/12/j8Z9O91ndcVs"


def ivs_client():
    return botocore.session.get_session().create_client(
        "ivs", region_name="us-west-2", aws_access_key_id="x", aws_secret_access_key="x"
    )


def created_channel(name: str) -> dict:
    return {
        "channel": {
            "arn": CHANNEL_ARN,
            "name": name,
            "authorized": True,
            "ingestEndpoint": "a1b2c3d4e5f6.global-contribute.live-video.net",
            "playbackUrl": "https://a1b2c3d4e5f6.us-west-2.playback.live-video.net/api/video/v1/us-west-2.123456789012.channel.AbCdef1G2hij.m3u8",
            "recordingConfigurationArn": RECORDING_ARN,
        },
        "streamKey": {
            "arn": "arn:aws:ivs:us-west-2:123456789012:stream-key/g1H2I3j4k5L6",
            "value": "sk_us-west-2_abcd",
            "channelArn": CHANNEL_ARN,
        },
    }


def test_a_show_gets_a_private_recorded_channel_valid_for_ivs_service_model():
    client = ivs_client()
    channels = IvsChannels(client, RECORDING_ARN)
    tags = {"shop:stage": "dev", "shop:live_show_id": "live_1"}
    expected = channels.create_channel_request("shop-dev-live_1", tags)
    with Stubber(client) as stub:
        stub.add_response("create_channel", created_channel("shop-dev-live_1"), expected)
        channel = channels.create("shop-dev-live_1", tags)
        stub.assert_no_pending_responses()

    assert expected["authorized"] is True  # private: playback needs a token
    assert expected["recordingConfigurationArn"] == RECORDING_ARN
    assert (channel.arn, channel.stream_key) == (CHANNEL_ARN, "sk_us-west-2_abcd")
    assert channel.ingest_endpoint.endswith("global-contribute.live-video.net")


def test_the_service_model_check_bites():
    """Guards against a vacuous pass: a request IVS's model refuses fails before anything is sent."""
    client = ivs_client()
    broken = copy.deepcopy(IvsChannels(client, RECORDING_ARN).create_channel_request("n", {}))
    broken["authorized"] = "yes"
    with Stubber(client) as stub:
        stub.add_response("create_channel", created_channel("n"), broken)
        with pytest.raises(ParamValidationError, match="authorized"):
            client.create_channel(**broken)


def test_pins_go_into_the_stream_as_small_timed_metadata():
    client = ivs_client()
    channels = IvsChannels(client, None)
    metadata = pin_metadata("pin", "TSHIRT-BLUE-M", 7)
    assert json.loads(metadata) == {"type": "pin", "sku": "TSHIRT-BLUE-M", "seq": 7}
    with Stubber(client) as stub:
        stub.add_response("put_metadata", {}, {"channelArn": CHANNEL_ARN, "metadata": metadata})
        assert channels.put_metadata(CHANNEL_ARN, metadata) is True
        stub.assert_no_pending_responses()
    with pytest.raises(MetadataTooLarge):
        channels.put_metadata(CHANNEL_ARN, "x" * (METADATA_MAX_BYTES + 1))


def test_a_throttled_put_is_dropped_not_failed_and_bursts_stay_within_five_a_second():
    client = ivs_client()
    now = [100.0]
    channels = IvsChannels(client, None, clock=lambda: now[0])
    with Stubber(client) as stub:
        stub.add_client_error("put_metadata", service_error_code="ThrottlingException", http_status_code=429)
        assert channels.put_metadata(CHANNEL_ARN, "{}") is False
        for _ in range(4):
            stub.add_response("put_metadata", {}, {"channelArn": CHANNEL_ARN, "metadata": "{}"})
        assert [channels.put_metadata(CHANNEL_ARN, "{}") for _ in range(4)] == [True] * 4
        # The sixth call within a second is not even sent (the stub holds no answer for it).
        assert channels.put_metadata(CHANNEL_ARN, "{}") is False
        stub.assert_no_pending_responses()
        now[0] += 1.0  # a second later there are calls to spend again
        stub.add_response("put_metadata", {}, {"channelArn": CHANNEL_ARN, "metadata": "{}"})
        assert channels.put_metadata(CHANNEL_ARN, "{}") is True


def test_other_ivs_errors_are_raised():
    client = ivs_client()
    with Stubber(client) as stub:
        stub.add_client_error("put_metadata", service_error_code="AccessDeniedException", http_status_code=403)
        with pytest.raises(ClientError):
            IvsChannels(client, None).put_metadata(CHANNEL_ARN, "{}")


# -- IVS's events (the IVS user guide's examples, our channel's name) ------------------------------------


def stream_event(name: str, channel: str = "shop-dev-live_1") -> dict:
    return {
        "version": "0",
        "id": "01234567-0123-0123-0123-012345678901",
        "detail-type": "IVS Stream State Change",
        "source": "aws.ivs",
        "account": "123456789012",
        "time": "2020-06-23T20:12:36Z",
        "region": "us-west-2",
        "resources": [CHANNEL_ARN],
        "detail": {"event_name": name, "channel_name": channel, "stream_id": "st-1A2b3c4D5e6F78ab91c2d3e"},
    }


def recording_event(status: str = "Recording End") -> dict:
    return {
        "version": "0",
        "id": "12345678-1a23-4567-a1bc-1a2b34567890",
        "detail-type": "IVS Recording State Change",
        "source": "aws.ivs",
        "account": "123456789012",
        "time": "2020-06-24T07:51:32Z",
        "region": "us-west-2",
        "resources": [CHANNEL_ARN],
        "detail": {
            "channel_name": "shop-dev-live_1",
            "stream_id": "st-1A2b3c4D5e6F78ghij9Klmn",
            "recording_status": status,
            "recording_status_reason": "",
            "recording_s3_bucket_name": "shop-dev-vod-media",
            "recording_s3_key_prefix": PREFIX,
            "recording_duration_ms": 99370264,
            "recording_session_id": "a6RfV23ES97iyfoQ",
            "recording_session_stream_ids": ["st-1A2b3c4D5e6F78ghij9Klmn"],
        },
    }


def test_stream_start_and_end_name_the_show_its_channel_and_when():
    start = parse_live_event(stream_event("Stream Start"), "dev")
    assert start == LiveSignal(
        "stream_start",
        "live_1",
        CHANNEL_ARN,
        datetime(2020, 6, 23, 20, 12, 36, tzinfo=UTC),
        stream_id="st-1A2b3c4D5e6F78ab91c2d3e",
        event_id="01234567-0123-0123-0123-012345678901",
    )
    end = parse_live_event(stream_event("Stream End"), "dev")
    assert end is not None and end.kind == "stream_end"


def test_recording_end_names_where_the_recording_is():
    signal = parse_live_event(recording_event(), "dev")
    assert signal is not None
    assert (signal.kind, signal.recording_bucket, signal.recording_prefix, signal.recording_duration_ms) == (
        "recording_end",
        "shop-dev-vod-media",
        PREFIX,
        99370264,
    )


@pytest.mark.parametrize(
    "event",
    [
        stream_event("Session Created"),
        stream_event("Stream Failure"),
        recording_event("Recording Start"),
        stream_event("Stream Start", channel="shop-prod-live_1"),  # another stage's channel
        stream_event("Stream Start", channel="someone-elses-channel"),
    ],
)
def test_what_vod_does_not_act_on_is_no_signal(event):
    assert parse_live_event(event, "dev") is None


@pytest.mark.parametrize(
    "event",
    [
        {"source": "aws.mediaconvert", "detail-type": "MediaConvert Job State Change", "detail": {}},
        {**stream_event("Stream Start"), "detail": "nope"},
        {**stream_event("Stream Start"), "resources": []},
        {**stream_event("Stream Start"), "time": "yesterday"},
        {**recording_event(), "detail": {**recording_event()["detail"], "recording_s3_key_prefix": None}},
    ],
)
def test_anything_else_is_not_a_live_event(event):
    with pytest.raises(NotALiveEvent):
        parse_live_event(event, "dev")


def test_a_recording_is_read_from_its_metadata_file():
    ended = {
        "version": "v1",
        "recording_status": "RECORDING_ENDED",
        "media": {
            "hls": {
                "duration_ms": 172794,
                "path": "media/hls",
                "playlist": "master.m3u8",
                "renditions": [
                    {"path": "720p30", "playlist": "playlist.m3u8", "resolution_width": 1280, "resolution_height": 720},
                    {"path": "480p30", "playlist": "playlist.m3u8", "resolution_width": 852, "resolution_height": 480},
                ],
            },
            "thumbnails": {"path": "media/thumbnails", "resolution_width": 1280, "resolution_height": 720},
        },
    }
    recording = recording_from_metadata("b", PREFIX, ended)
    assert recording.master_playlist_key == f"{PREFIX}/media/hls/master.m3u8"
    assert [(r.width, r.height, r.playlist_key) for r in recording.renditions] == [
        (1280, 720, f"{PREFIX}/media/hls/720p30/playlist.m3u8"),
        (852, 480, f"{PREFIX}/media/hls/480p30/playlist.m3u8"),
    ]
    assert (recording.poster_key, recording.duration_ms) == (f"{PREFIX}/media/thumbnails/thumb0.jpg", 172794)
    with pytest.raises(NotALiveEvent):
        recording_from_metadata("b", PREFIX, {"media": {"hls": {"renditions": []}}})


# -- playback tokens -------------------------------------------------------------------------------


def test_a_playback_token_is_what_ivs_verifies_with_the_imported_public_key():
    key = ec.generate_private_key(ec.SECP384R1())
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    now = datetime.now(UTC).replace(microsecond=0)

    token, expires = playback_token(
        private, CHANNEL_ARN, viewer_id="sub-1", origin="https://shop.example", now=now, ttl=timedelta(minutes=10)
    )

    assert expires == now + timedelta(minutes=10)
    assert jwt.get_unverified_header(token)["alg"] == "ES384"
    claims = jwt.decode(token, public, algorithms=["ES384"])
    assert claims == {
        "aws:channel-arn": CHANNEL_ARN,
        "aws:access-control-allow-origin": "https://shop.example",
        "aws:viewer-id": "sub-1",
        "exp": int(expires.timestamp()),
    }
    other = (
        ec.generate_private_key(ec.SECP384R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, other, algorithms=["ES384"])
    stale, _ = playback_token(
        private, CHANNEL_ARN, viewer_id="v", origin="*", now=now - timedelta(hours=1), ttl=timedelta(minutes=10)
    )
    with pytest.raises(jwt.ExpiredSignatureError):
        jwt.decode(stale, public, algorithms=["ES384"])
    assert with_token("https://x/p.m3u8", "t") == "https://x/p.m3u8?token=t"

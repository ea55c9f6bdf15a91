"""The embedded stack's transcoder: real ffmpeg (the binary of the pinned imageio-ffmpeg wheel, which
`make venv` installs; never shipped to Lambda, where MediaConvert transcodes). The embedded stack names
the binary in VOD_FFMPEG (shop_devstack.stack), so no service code imports the dev-only wheel.

`FfmpegTranscoder.start` runs each job in a background process (`python -m transcode_worker`, beside app.py),
so the handler that starts it returns at once, as it does with MediaConvert. The job reads the source
from S3, probes it, transcodes the ladder `domain.choose_ladder` picks, makes the poster and the
storyboard, writes everything to S3 and then reports the outcome as MediaConvert does: a
"MediaConvert Job State Change" event (COMPLETE with outputGroupDetails, or ERROR with errorCode and
errorMessage) on the default event bus, which a rule hands to vod's job-events queue.

Probing: the wheel has no ffprobe, so `ffmpeg -i <file>` (no output) prints the container's duration
and each stream's codec and size on stderr, which `parse_probe` reads. That costs no decoding, and a
file ffmpeg cannot open or that has no video stream is refused with ffmpeg's own message.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from chalicelib.domain import Probe, Rung, UnusableSource, choose_ladder, plan_storyboard, storyboard_vtt
from chalicelib.transcoder import TranscodeJob, job_state_change, put_entry

SERVICE_DIR = Path(__file__).resolve().parent.parent
FFMPEG_ENV = "VOD_FFMPEG"
SEGMENT_SECONDS = 4
_DURATION = re.compile(r"Duration: (\d+):(\d{2}):(\d{2}(?:\.\d+)?)")
_VIDEO = re.compile(r"Stream #\d+:\d+.*?: Video: .*?(?<![0-9])(\d{2,5})x(\d{2,5})(?![0-9])")
_AUDIO = re.compile(r"Stream #\d+:\d+.*?: Audio: ")
_ROTATION = re.compile(r"rotation of (-?\d+(?:\.\d+)?) degrees")


def parse_probe(text: str) -> Probe:
    """What `ffmpeg -i <file>` says about a file: the first video stream's displayed size, the
    duration and whether there is audio. Raises UnusableSource with ffmpeg's reason otherwise."""
    video = _VIDEO.search(text)
    if not video:
        reason = next((line.strip() for line in reversed(text.splitlines()) if "Invalid data" in line or "rror" in line), "")
        raise UnusableSource(f"no video stream found{': ' + reason if reason else ''}")
    width, height = int(video.group(1)), int(video.group(2))
    rotation = _ROTATION.search(text[video.start() :])
    if rotation and round(abs(float(rotation.group(1)))) % 180 == 90:
        width, height = height, width
    duration = _DURATION.search(text)
    if not duration:
        raise UnusableSource("the file has no duration (a still image or a broken container)")
    hours, minutes, seconds = duration.groups()
    duration_ms = int((int(hours) * 3600 + int(minutes) * 60 + float(seconds)) * 1000)
    if duration_ms <= 0:
        raise UnusableSource("the video lasts no time at all")
    return Probe(width=width, height=height, duration_ms=duration_ms, has_audio=bool(_AUDIO.search(text)))


def probe(exe: str, path: Path) -> Probe:
    # Exit status 1 is expected: no output file is given.
    result = subprocess.run([exe, "-hide_banner", "-i", str(path)], capture_output=True, text=True, timeout=120, check=False)
    return parse_probe(result.stderr)


def hls_command(exe: str, source: Path, out: Path, ladder: list[Rung], has_audio: bool) -> list[str]:
    """One ffmpeg run for every rendition: the source is decoded once and scaled per rung."""
    splits = "".join(f"[v{i}]" for i in range(len(ladder)))
    scales = ";".join(f"[v{i}]scale={rung.width}:{rung.height}[o{i}]" for i, rung in enumerate(ladder))
    command = [exe, "-hide_banner", "-loglevel", "error", "-y", "-i", str(source)]
    command += ["-filter_complex", f"[0:v]split={len(ladder)}{splits};{scales}"]
    for i in range(len(ladder)):
        command += ["-map", f"[o{i}]"]
        if has_audio:
            command += ["-map", "0:a:0"]
    command += ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-sc_threshold", "0"]
    # A key frame every two seconds, so segments cut at SEGMENT_SECONDS.
    command += ["-force_key_frames", "expr:gte(t,n_forced*2)"]
    for i, rung in enumerate(ladder):
        command += [
            f"-b:v:{i}",
            f"{rung.video_kbps}k",
            f"-maxrate:v:{i}",
            f"{rung.video_kbps * 3 // 2}k",
            f"-bufsize:v:{i}",
            f"{rung.video_kbps * 2}k",
        ]
    if has_audio:
        command += ["-c:a", "aac", "-b:a", "128k", "-ac", "2"]
    streams = " ".join(f"v:{i},{f'a:{i},' if has_audio else ''}name:{rung.name}" for i, rung in enumerate(ladder))
    command += ["-f", "hls", "-hls_time", str(SEGMENT_SECONDS), "-hls_playlist_type", "vod", "-hls_flags", "independent_segments"]
    command += ["-hls_segment_filename", str(out / "%v" / "segment_%04d.ts"), "-master_pl_name", "master.m3u8"]
    command += ["-var_stream_map", streams, str(out / "%v" / "index.m3u8")]
    return command


def run_job(job: TranscodeJob, s3: Any, events: Any, exe: str) -> dict[str, Any]:
    """Transcode `job` and report its outcome on the default bus; returns the event reported."""
    try:
        event = job_state_change(job, "COMPLETE", detail=_transcode(job, s3, exe))
    except UnusableSource as error:
        event = job_state_change(job, "ERROR", detail={"errorCode": "probe_failed", "errorMessage": str(error)})
    except subprocess.CalledProcessError as error:
        message = (error.stderr or "").strip()[-1500:] or f"ffmpeg exited with status {error.returncode}"
        event = job_state_change(job, "ERROR", detail={"errorCode": "transcode_failed", "errorMessage": message})
    except Exception as error:  # any failure is the job's outcome: reported, not lost
        event = job_state_change(
            job, "ERROR", detail={"errorCode": "transcoder_error", "errorMessage": f"{type(error).__name__}: {error}"}
        )
    response = events.put_events(Entries=[put_entry(event)])
    if response.get("FailedEntryCount"):
        raise RuntimeError(f"could not report job {job.job_id}: {response['Entries']}")
    return event


def _transcode(job: TranscodeJob, s3: Any, exe: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"vod-{job.job_id}-") as workdir:
        work = Path(workdir)
        source = work / "source"
        s3.download_file(job.bucket, job.source_key, str(source))
        found = probe(exe, source)
        ladder = choose_ladder(found)
        out = work / "out"
        out.mkdir()
        for rung in ladder:
            (out / rung.name).mkdir()
        _run(hls_command(exe, source, out, ladder, found.has_audio))
        poster_at = min(1.0, found.duration_ms / 2000)
        _run(
            [
                exe,
                "-hide_banner",
                "-loglevel",
                "error",
                "-y",
                "-ss",
                f"{poster_at:.3f}",
                "-i",
                str(source),
                "-frames:v",
                "1",
                "-q:v",
                "3",
                str(out / "poster.jpg"),
            ]
        )
        board = plan_storyboard(found)
        tile = f"fps=1/{board.interval_s},scale={board.thumb_width}:{board.thumb_height},tile={board.columns}x{board.rows}"
        _run(
            [
                exe,
                "-hide_banner",
                "-loglevel",
                "error",
                "-y",
                "-i",
                str(source),
                "-vf",
                tile,
                "-frames:v",
                "1",
                "-q:v",
                "4",
                str(out / "storyboard.jpg"),
            ]
        )
        (out / "storyboard.vtt").write_text(storyboard_vtt(board, "storyboard.jpg", found.duration_ms))
        for path in sorted(out.rglob("*")):
            if path.is_file():
                s3.upload_file(
                    str(path),
                    job.bucket,
                    job.output_prefix + path.relative_to(out).as_posix(),
                    ExtraArgs={"ContentType": _content_type(path)},
                )
    url = f"s3://{job.bucket}/{job.output_prefix}"
    return {
        "outputGroupDetails": [
            {
                "type": "HLS_GROUP",
                "playlistFilePaths": [f"{url}master.m3u8"],
                "outputDetails": [
                    {
                        "outputFilePaths": [f"{url}{rung.name}/index.m3u8"],
                        "durationInMs": found.duration_ms,
                        "videoDetails": {"widthInPx": rung.width, "heightInPx": rung.height},
                    }
                    for rung in ladder
                ],
            },
            {
                "type": "FILE_GROUP",
                "outputDetails": [
                    {"outputFilePaths": [f"{url}poster.jpg"]},
                    {"outputFilePaths": [f"{url}storyboard.jpg"]},
                    {"outputFilePaths": [f"{url}storyboard.vtt"]},
                ],
            },
        ],
    }


def _run(command: list[str]) -> None:
    subprocess.run(command, capture_output=True, text=True, check=True, timeout=1800)


def _content_type(path: Path) -> str:
    return {
        ".m3u8": "application/vnd.apple.mpegurl",
        ".ts": "video/mp2t",
        ".jpg": "image/jpeg",
        ".vtt": "text/vtt",
    }.get(path.suffix, "application/octet-stream")


class FfmpegTranscoder:
    """Runs each job in its own background process; a job id already started here is not started again."""

    def __init__(self) -> None:
        self._running: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, job: TranscodeJob) -> str:
        if not os.environ.get(FFMPEG_ENV):
            raise RuntimeError(f"{FFMPEG_ENV} names no ffmpeg binary: the embedded stack sets it (shop_devstack.stack)")
        self._reap()
        if job.job_id not in self._running:
            self._running[job.job_id] = subprocess.Popen(
                [sys.executable, "-m", "transcode_worker", json.dumps(asdict(job))],
                cwd=SERVICE_DIR,
                env={**os.environ, "PYTHONPATH": os.pathsep.join([str(SERVICE_DIR), os.environ.get("PYTHONPATH", "")])},
            )
        return job.job_id

    def wait(self, timeout: float = 300) -> None:
        """Wait for every job started here to end (tests and shutdown)."""
        for process in list(self._running.values()):
            process.wait(timeout=timeout)
        self._reap()

    def _reap(self) -> None:
        for job_id, process in list(self._running.items()):
            if process.poll() is not None:
                del self._running[job_id]

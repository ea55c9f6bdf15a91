"""One ffmpeg transcode job, run in its own process by `chalicelib.ffmpeg_transcoder.FfmpegTranscoder`
on the embedded stack (never part of a Lambda package: MediaConvert transcodes on AWS).

    python -m transcode_worker '<TranscodeJob as JSON>'

Like app.py, it is where AWS clients are made; the job itself is `ffmpeg_transcoder.run_job`."""

from __future__ import annotations

import json
import os
import sys

import boto3

from chalicelib.ffmpeg_transcoder import FFMPEG_ENV, run_job
from chalicelib.transcoder import TranscodeJob


def main(argv: list[str]) -> int:
    job = TranscodeJob(**json.loads(argv[0]))
    event = run_job(job, boto3.client("s3"), boto3.client("events"), os.environ[FFMPEG_ENV])
    # One write: the service host's log lines share this pipe, and a line split in two would be unreadable.
    sys.stdout.write(json.dumps({"transcode_job": job.job_id, "status": event["detail"]["status"]}) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

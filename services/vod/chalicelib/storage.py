"""The media bucket: presigned uploads (single PUT or multipart), what is there, captions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from botocore.exceptions import ClientError

UPLOAD_URL_SECONDS = 3600
# S3's own limits on multipart uploads.
MAX_PARTS = 10_000


@dataclass(frozen=True)
class StoredObject:
    key: str
    size_bytes: int


class UploadNotFound(Exception):
    """The object (or the multipart upload) is not in the bucket."""


class UploadRejected(Exception):
    """S3 refused to complete a multipart upload (a part missing or its ETag wrong); says why."""


class MediaStore(Protocol):
    bucket: str

    def presigned_put(self, key: str, content_type: str) -> str: ...

    def start_multipart(self, key: str, content_type: str) -> str: ...

    def presigned_part(self, key: str, upload_id: str, part_number: int) -> str: ...

    def complete_multipart(self, key: str, upload_id: str, parts: list[tuple[int, str]]) -> None: ...

    def head(self, key: str) -> StoredObject: ...

    def put_text(self, key: str, text: str, content_type: str) -> None: ...

    def get_text(self, key: str) -> str: ...


class S3MediaStore:
    def __init__(self, client: Any, bucket: str) -> None:
        self._s3 = client
        self.bucket = bucket

    def presigned_put(self, key: str, content_type: str) -> str:
        return str(
            self._s3.generate_presigned_url(
                "put_object",
                Params={"Bucket": self.bucket, "Key": key, "ContentType": content_type},
                ExpiresIn=UPLOAD_URL_SECONDS,
            )
        )

    def start_multipart(self, key: str, content_type: str) -> str:
        return str(self._s3.create_multipart_upload(Bucket=self.bucket, Key=key, ContentType=content_type)["UploadId"])

    def presigned_part(self, key: str, upload_id: str, part_number: int) -> str:
        return str(
            self._s3.generate_presigned_url(
                "upload_part",
                Params={"Bucket": self.bucket, "Key": key, "UploadId": upload_id, "PartNumber": part_number},
                ExpiresIn=UPLOAD_URL_SECONDS,
            )
        )

    def complete_multipart(self, key: str, upload_id: str, parts: list[tuple[int, str]]) -> None:
        try:
            self._s3.complete_multipart_upload(
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": [{"PartNumber": number, "ETag": etag} for number, etag in parts]},
            )
        except ClientError as error:
            code = error.response["Error"]["Code"]
            if code == "NoSuchUpload":
                raise UploadNotFound(f"no multipart upload {upload_id}") from None
            if code in ("InvalidPart", "InvalidPartOrder", "EntityTooSmall", "MalformedXML", "InvalidRequest"):
                raise UploadRejected(f"{code}: {error.response['Error'].get('Message', '')}") from None
            raise

    def head(self, key: str) -> StoredObject:
        try:
            found = self._s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if error.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
                raise UploadNotFound(f"nothing uploaded at {key}") from None
            raise
        return StoredObject(key, int(found["ContentLength"]))

    def put_text(self, key: str, text: str, content_type: str) -> None:
        self._s3.put_object(Bucket=self.bucket, Key=key, Body=text.encode(), ContentType=content_type)

    def get_text(self, key: str) -> str:
        return str(self._s3.get_object(Bucket=self.bucket, Key=key)["Body"].read().decode("utf-8"))

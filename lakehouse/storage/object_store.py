"""The lake on S3 or an S3-compatible store (MinIO, Ceph, R2...), behind the file-system seam.

`LAKEHOUSE_LAKE_URL=s3://bucket/prefix` moves the lake; endpoint and credentials come from the
standard AWS variables (`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
`AWS_REGION`). Data files go through Arrow's native S3 client, Delta commits through delta-rs's
object store, and Polars reads the same files with its own native S3 reader.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlparse

import pyarrow.fs as pafs

DEFAULT_REGION = "us-east-1"


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str
    endpoint: str | None
    region: str
    access_key: str | None
    secret_key: str | None

    @classmethod
    def from_url(cls, url: str) -> S3Location:
        parsed = urlparse(url)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise ValueError(f"lake URL {url!r}: expected s3://bucket/prefix")
        return cls(
            bucket=parsed.netloc,
            prefix=parsed.path.strip("/"),
            endpoint=os.environ.get("AWS_ENDPOINT_URL") or None,
            region=os.environ.get("AWS_REGION")
            or os.environ.get("AWS_DEFAULT_REGION")
            or DEFAULT_REGION,
            access_key=os.environ.get("AWS_ACCESS_KEY_ID") or None,
            secret_key=os.environ.get("AWS_SECRET_ACCESS_KEY") or None,
        )

    @property
    def root(self) -> str:
        """The lake root as Arrow names S3 paths: `bucket/prefix`."""
        return f"{self.bucket}/{self.prefix}".rstrip("/")

    @property
    def url(self) -> str:
        return f"s3://{self.root}"

    def arrow_filesystem(self) -> pafs.S3FileSystem:
        options: dict[str, object] = {"region": self.region}
        if self.endpoint:
            endpoint = urlparse(self.endpoint)
            options["endpoint_override"] = endpoint.netloc
            options["scheme"] = endpoint.scheme or "https"
        if self.access_key:
            options["access_key"] = self.access_key
            options["secret_key"] = self.secret_key
        return pafs.S3FileSystem(**options)

    def polars_options(self) -> dict[str, str]:
        """`storage_options` for Polars' native S3 reader."""
        options = {"aws_region": self.region}
        if self.endpoint:
            options["aws_endpoint_url"] = self.endpoint
            options["aws_allow_http"] = str(self.endpoint.startswith("http://")).lower()
        if self.access_key:
            options["aws_access_key_id"] = self.access_key
            options["aws_secret_access_key"] = self.secret_key or ""
        return options

    def delta_options(self) -> dict[str, str]:
        """delta-rs's options. Commits use S3's conditional writes (`conditional_put: etag`):
        two writers racing for the same log entry cannot both win, with no lock service to run
        (the alternative, a DynamoDB lock table, is one more thing to operate; and
        `AWS_S3_ALLOW_UNSAFE_RENAME` would let a racing writer overwrite a commit)."""
        return {**self.polars_options(), "conditional_put": "etag"}

"""The artifact store: kernel artifacts kept by content, in a local folder or in S3.

Every artifact is stored under the SHA-256 of its bytes, so a key says what it holds and a
second write of the same bytes changes nothing. Every put and every get checks that digest.
A kernel record (its CompiledKernel, whose ``metadata.checksum`` names the artifact) is written
after the artifact, so a record that exists always points at complete bytes; the records are
how Tezzeret finds a kernel it already built, and how Kasmina loads one by kernel id.

| variable | default | meaning |
|---|---|---|
| ESPER_ARTIFACTS | ``$ESPER_HOME/artifacts`` | a folder, or ``s3://bucket/prefix`` |
| ESPER_S3_ENDPOINT | AWS S3 | endpoint URL of an S3-compatible server (MinIO, Ceph, moto) |

S3 credentials and region come from boto3's usual chain (``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION``, profiles, instance roles).

Layout under the folder or prefix:

    sha256/<hex>              artifact bytes, named by their SHA-256
    kernels/<kernel_id>.json  a kernel record: CompiledKernel as JSON
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import os
import re
import uuid
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Union

from pydantic import TypeAdapter, ValidationError

from esper.config import esper_home
from esper.contracts import CompiledKernel, KernelMetadata, KernelStatus
from esper.contracts.fields import AttributeValue, Identifier

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_IDENTIFIER = TypeAdapter(Identifier)

KernelRef = Union[str, KernelMetadata, CompiledKernel]
"""A kernel named by its id, or described by its metadata or its CompiledKernel record."""


class ArtifactError(Exception):
    """Base of the store's errors."""


class ArtifactMissing(ArtifactError, LookupError):
    """No artifact or kernel record under the key asked for."""


class ChecksumMismatch(ArtifactError):
    """Bytes whose SHA-256 is not the one expected: corrupt, truncated or the wrong object."""


class CorruptKernelRecord(ArtifactError):
    """A kernel record that is not a valid CompiledKernel."""


@dataclasses.dataclass(frozen=True, slots=True)
class ArtifactRef:
    """Where an artifact is: its key in the store, its URI, SHA-256 and size in bytes."""

    key: str
    uri: str
    sha256: str
    size: int


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _artifact_key(sha256: str) -> str:
    if not _SHA256.match(sha256):
        raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
    return f"sha256/{sha256}"


def _kernel_key(kernel_id: str) -> str:
    # Identifiers exclude "/" and cannot start with ".", so a kernel id never names a key
    # outside kernels/.
    try:
        _IDENTIFIER.validate_python(kernel_id)
    except ValidationError:
        raise ValueError(f"not a kernel id: {kernel_id!r}") from None
    return f"kernels/{kernel_id}.json"


class ArtifactStore(ABC):
    """Content-addressed artifacts and kernel records; subclasses say where bytes live."""

    # -- artifacts ---------------------------------------------------------------------------

    def put(self, data: bytes, sha256: str | None = None) -> ArtifactRef:
        """Store ``data`` (once: present bytes are not written again). ``sha256``, when
        given, is what the caller believes the bytes hash to, and is checked first."""
        actual = sha256_of(data)
        if sha256 is not None and sha256 != actual:
            raise ChecksumMismatch(f"refusing to store bytes whose SHA-256 is {actual}, "
                                   f"not the expected {sha256}")
        key = _artifact_key(actual)
        if not self._exists(key):
            self._write(key, data, actual)
        return ArtifactRef(key, self.uri(key), actual, len(data))

    def get(self, sha256: str) -> bytes:
        """The bytes whose SHA-256 is ``sha256``, checked after reading."""
        key = _artifact_key(sha256)
        data = self._read(key)
        if data is None:
            raise ArtifactMissing(f"no artifact {self.uri(key)}")
        actual = sha256_of(data)
        if actual != sha256:
            raise ChecksumMismatch(f"{self.uri(key)} holds {len(data)} bytes with SHA-256 "
                                   f"{actual}, not {sha256}")
        return data

    def has(self, sha256: str) -> bool:
        return self._exists(_artifact_key(sha256))

    # -- kernels -----------------------------------------------------------------------------

    def save_kernel(self, metadata: KernelMetadata, artifact: bytes, *,
                    status: KernelStatus = KernelStatus.VALIDATED,
                    validation_results: Mapping[str, AttributeValue] | None = None,
                    ) -> CompiledKernel:
        """Store a kernel's artifact, then its record; returns the record, which carries the
        artifact's checksum (in its metadata) and URI (``binary_ref``)."""
        ref = self.put(artifact, metadata.checksum)
        kernel = CompiledKernel(
            kernel_id=metadata.kernel_id, blueprint_id=metadata.blueprint_id,
            binary_ref=ref.uri, metadata=metadata.model_copy(update={"checksum": ref.sha256}),
            status=status, validation_results=dict(validation_results or {}))
        self._write(_kernel_key(metadata.kernel_id), kernel.model_dump_json().encode(), None)
        return kernel

    def find_kernel(self, kernel_id: str) -> CompiledKernel | None:
        """The record of kernel ``kernel_id``, or None when no such kernel was saved."""
        key = _kernel_key(kernel_id)
        raw = self._read(key)
        if raw is None:
            return None
        try:
            return CompiledKernel.model_validate_json(raw)
        except ValidationError as error:
            raise CorruptKernelRecord(f"{self.uri(key)} is not a valid kernel record: "
                                      f"{error}") from None

    def kernel_artifact(self, kernel: KernelRef) -> bytes:
        """A kernel's artifact bytes, checksum verified."""
        metadata = self._metadata(kernel)
        if metadata.checksum is None:
            raise ArtifactMissing(f"kernel {metadata.kernel_id} has no checksum, so no artifact")
        return self.get(metadata.checksum)

    def load_kernel(self, kernel: KernelRef):
        """The kernel as a ready-to-run, trainable ``torch.nn.Module``
        (see ``esper.tezzeret.export``)."""
        from esper.tezzeret.export import module_from_artifact  # torch only for those who load

        return module_from_artifact(self.kernel_artifact(kernel))

    def _metadata(self, kernel: KernelRef) -> KernelMetadata:
        if isinstance(kernel, KernelMetadata):
            return kernel
        if isinstance(kernel, CompiledKernel):
            return kernel.metadata
        found = self.find_kernel(kernel)
        if found is None:
            raise ArtifactMissing(f"no kernel {kernel!r} in {self.uri('kernels/')}")
        return found.metadata

    # -- backends ----------------------------------------------------------------------------

    @abstractmethod
    def uri(self, key: str) -> str:
        """The absolute location of ``key``: a file:// or s3:// URI."""

    @abstractmethod
    def _read(self, key: str) -> bytes | None:
        """The object's bytes, or None when there is no object under ``key``."""

    @abstractmethod
    def _write(self, key: str, data: bytes, sha256: str | None) -> None:
        """Store ``data`` under ``key`` whole or not at all; ``sha256``, when given, lets the
        backend have the server verify what arrived."""

    @abstractmethod
    def _exists(self, key: str) -> bool: ...


class LocalArtifactStore(ArtifactStore):
    """Artifacts as files under ``root``, written to ``root/.partial/`` and renamed into place,
    so a process killed mid-write never leaves a partial file under a real key."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).resolve()

    def __repr__(self) -> str:
        return f"LocalArtifactStore({str(self.root)!r})"

    def uri(self, key: str) -> str:
        return (self.root / key).as_uri()

    def _read(self, key: str) -> bytes | None:
        try:
            return (self.root / key).read_bytes()
        except FileNotFoundError:
            return None

    def _write(self, key: str, data: bytes, sha256: str | None) -> None:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        # Beside the store's folders, not in them: a kill mid-write leaves its remains here.
        partial = self.root / ".partial" / uuid.uuid4().hex
        partial.parent.mkdir(exist_ok=True)
        with open(partial, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(partial, path)

    def _exists(self, key: str) -> bool:
        return (self.root / key).is_file()


class S3ArtifactStore(ArtifactStore):
    """Artifacts as objects in ``bucket`` under ``prefix``. Uploads carry their SHA-256, so
    AWS S3 itself refuses bytes damaged on the way (some compatible servers ignore it; the
    check on every get holds everywhere)."""

    def __init__(self, bucket: str, prefix: str = "", *, endpoint_url: str | None = None,
                 client=None):
        import boto3

        if not bucket:
            raise ValueError("an S3 artifact store needs a bucket name")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.client = client or boto3.client("s3", endpoint_url=endpoint_url)

    def __repr__(self) -> str:
        return f"S3ArtifactStore({self.uri('')!r})"

    def _object_key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._object_key(key)}"

    def _read(self, key: str) -> bytes | None:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._object_key(key))
        except self.client.exceptions.NoSuchKey:
            return None
        return response["Body"].read()

    def _write(self, key: str, data: bytes, sha256: str | None) -> None:
        extra = {}
        if sha256 is not None:
            extra["ChecksumSHA256"] = base64.b64encode(bytes.fromhex(sha256)).decode()
        self.client.put_object(Bucket=self.bucket, Key=self._object_key(key), Body=data, **extra)

    def _exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._object_key(key))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True


def open_store(location: str | None = None) -> ArtifactStore:
    """The store at ``location`` (a folder or ``s3://bucket/prefix``), by default the one
    ESPER_ARTIFACTS names, else ``$ESPER_HOME/artifacts``."""
    location = location or os.environ.get("ESPER_ARTIFACTS") or str(esper_home() / "artifacts")
    if location.startswith("s3://"):
        bucket, _, prefix = location.removeprefix("s3://").partition("/")
        if not bucket:
            raise ValueError(f"ESPER_ARTIFACTS {location!r} names no bucket: "
                             "use s3://bucket/prefix")
        return S3ArtifactStore(bucket, prefix,
                               endpoint_url=os.environ.get("ESPER_S3_ENDPOINT") or None)
    if "://" in location:
        raise ValueError(f"ESPER_ARTIFACTS {location!r}: only a folder or s3://bucket/prefix")
    return LocalArtifactStore(location)

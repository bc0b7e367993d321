from __future__ import annotations

import boto3
import pytest
import torch

from esper.artifacts import (
    ArtifactMissing,
    ChecksumMismatch,
    CorruptKernelRecord,
    LocalArtifactStore,
    open_store,
    sha256_of,
)
from esper.contracts import KernelMetadata, KernelStatus
from esper.tezzeret.export import export_artifact


def _metadata(kernel_id: str = "linear-test-0001") -> KernelMetadata:
    return KernelMetadata(kernel_id=kernel_id, blueprint_id="linear-bp", name="linear 4->3",
                          input_shape=[4], output_shape=[3], parameter_count=15,
                          memory_footprint_mb=0.01, compilation_target="torch.export")


def _overwrite(store, key: str, data: bytes) -> None:
    """Replace an object behind the store's back, as disk or network corruption would."""
    if isinstance(store, LocalArtifactStore):
        (store.root / key).write_bytes(data)
    else:
        store.client.put_object(Bucket=store.bucket, Key=f"{store.prefix}/{key}", Body=data)


def test_put_then_get_returns_the_bytes_under_their_sha256(store):
    ref = store.put(b"kernel bytes")

    assert ref.sha256 == sha256_of(b"kernel bytes")
    assert ref.key == f"sha256/{ref.sha256}"
    assert ref.size == len(b"kernel bytes")
    assert ref.uri.endswith(ref.key)
    assert store.get(ref.sha256) == b"kernel bytes"
    assert store.has(ref.sha256)


def test_putting_the_same_bytes_twice_keeps_one_object(store):
    first, second = store.put(b"same"), store.put(b"same")

    assert first == second
    if isinstance(store, LocalArtifactStore):
        assert [p.name for p in (store.root / "sha256").iterdir()] == [first.sha256]
    else:
        listed = store.client.list_objects_v2(Bucket=store.bucket, Prefix=store.prefix)
        assert [o["Key"] for o in listed["Contents"]] == [f"team/artifacts/{first.key}"]


def test_get_refuses_bytes_that_changed_in_the_store(store):
    ref = store.put(b"original")
    _overwrite(store, ref.key, b"tampered")

    with pytest.raises(ChecksumMismatch, match=ref.sha256):
        store.get(ref.sha256)


def test_put_refuses_bytes_that_are_not_what_the_caller_expected(store):
    expected = sha256_of(b"what the compiler wrote")

    with pytest.raises(ChecksumMismatch, match=expected):
        store.put(b"what arrived", sha256=expected)
    assert not store.has(sha256_of(b"what arrived"))


def test_get_of_an_unknown_digest_names_the_missing_object(store):
    with pytest.raises(ArtifactMissing, match="sha256/" + "0" * 64):
        store.get("0" * 64)


def test_get_refuses_what_is_not_a_digest(store):
    with pytest.raises(ValueError, match="not a SHA-256"):
        store.get("../../etc/passwd")


def test_a_saved_kernel_is_found_by_id_and_loads_as_the_module_it_was(store):
    torch.manual_seed(0)
    module = torch.nn.Linear(4, 3)
    artifact = export_artifact(module, [4])

    kernel = store.save_kernel(_metadata(), artifact, validation_results={"trainable": True})

    assert kernel.metadata.checksum == sha256_of(artifact)
    assert kernel.binary_ref == store.uri(f"sha256/{sha256_of(artifact)}")
    assert kernel.status == KernelStatus.VALIDATED
    assert store.find_kernel("linear-test-0001") == kernel
    x = torch.randn(5, 4)
    for reference in ("linear-test-0001", kernel, kernel.metadata):
        assert store.kernel_artifact(reference) == artifact
        torch.testing.assert_close(store.load_kernel(reference)(x), module(x))


def test_an_unknown_kernel_is_not_found(store):
    assert store.find_kernel("never-built") is None
    with pytest.raises(ArtifactMissing, match="never-built"):
        store.load_kernel("never-built")


def test_a_kernel_whose_artifact_was_damaged_does_not_load(store):
    saved = store.save_kernel(_metadata(), export_artifact(torch.nn.Linear(4, 3), [4]))
    _overwrite(store, f"sha256/{saved.metadata.checksum}", b"not a kernel")

    with pytest.raises(ChecksumMismatch):
        store.load_kernel(saved.kernel_id)


def test_a_damaged_kernel_record_is_reported_with_its_location(store):
    store.save_kernel(_metadata(), b"artifact")
    _overwrite(store, "kernels/linear-test-0001.json", b'{"kernel_id": 3}')

    with pytest.raises(CorruptKernelRecord, match="kernels/linear-test-0001.json"):
        store.find_kernel("linear-test-0001")


def test_kernel_ids_cannot_leave_the_kernels_folder(store):
    with pytest.raises(ValueError, match="not a kernel id"):
        store.find_kernel("../sha256/x")


def test_open_store_defaults_to_a_folder_in_esper_home(tmp_path, monkeypatch):
    monkeypatch.delenv("ESPER_ARTIFACTS", raising=False)
    monkeypatch.setenv("ESPER_HOME", str(tmp_path))

    store = open_store()

    assert isinstance(store, LocalArtifactStore)
    assert store.root == tmp_path / "artifacts"


def test_open_store_reads_an_s3_location_and_endpoint_from_the_environment(s3_bucket, s3_env,
                                                                           monkeypatch):
    monkeypatch.setenv("ESPER_ARTIFACTS", f"s3://{s3_bucket}/kernels/v1")

    store = open_store()
    ref = store.put(b"in the bucket")

    assert ref.uri == f"s3://{s3_bucket}/kernels/v1/sha256/{ref.sha256}"
    body = boto3.client("s3", endpoint_url=s3_env).get_object(
        Bucket=s3_bucket, Key=f"kernels/v1/sha256/{ref.sha256}")["Body"].read()
    assert body == b"in the bucket"


@pytest.mark.parametrize("location, message", [
    ("s3:///prefix", "names no bucket"),
    ("https://example.com/artifacts", "only a folder or s3://"),
])
def test_open_store_rejects_locations_it_cannot_use(location, message):
    with pytest.raises(ValueError, match=message):
        open_store(location)

"""The artifact manifest: a typed, frozen object that reads and writes the JSON beside the
.tflite, checks its sha256 and keeps keys it does not know."""

import dataclasses
import json

import pytest

from edgeseg.artifact import Manifest, read_manifest, record_quality, verify_manifest, write_manifest
from edgeseg.errors import ArtifactError


@pytest.fixture
def artifact(tmp_path, tiny_tflite_bytes):
    art = tmp_path / "m_int8.tflite"
    art.write_bytes(tiny_tflite_bytes)
    return art


def test_written_manifest_is_typed_frozen_and_reads_back_equal(artifact):
    m = write_manifest(artifact, model="resunet", recipe="int8", classes=["a", "b"], input={"dtype": "int8"})
    assert isinstance(m, Manifest) and m.recipe == "int8" and m.size_bytes == artifact.stat().st_size
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.recipe = "float32"
    again = read_manifest(artifact)
    assert again == m and again["input"]["dtype"] == "int8" and again.get("pta") is None and "pta" not in again
    on_disk = json.loads(artifact.with_suffix(".json").read_text())
    assert on_disk == m.to_dict() and "pta" not in on_disk and "extra" not in on_disk
    verify_manifest(artifact, again)


def test_a_changed_file_fails_the_sha256_check(artifact):
    m = write_manifest(artifact, recipe="int8")
    artifact.write_bytes(artifact.read_bytes() + b"\0")
    with pytest.raises(ArtifactError, match="does not match its manifest"):
        verify_manifest(artifact, m)


def test_unknown_keys_survive_a_rewrite_and_missing_ones_are_an_error(artifact):
    write_manifest(artifact, recipe="int8")
    path = artifact.with_suffix(".json")
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "from_the_future": {"x": 1}}))
    record_quality(artifact, "lanes:val", {"miou": 0.5, "ignored": 1})
    data = json.loads(path.read_text())
    assert data["from_the_future"] == {"x": 1} and data["quality"] == {"lanes:val": {"miou": 0.5}}
    path.write_text(json.dumps({"recipe": "int8"}))  # hand-written: named after its file, nothing to verify
    m = read_manifest(artifact)
    assert m.name == "m_int8" and m.sha256 == "" and m.recipe == "int8"
    path.write_text("[1, 2]")
    with pytest.raises(ArtifactError, match="is not a JSON object"):
        read_manifest(artifact)

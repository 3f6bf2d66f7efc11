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
    assert again == m and again.input["dtype"] == "int8" and again.pta is None and again.signatures == []
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


def test_typed_helpers_read_the_nested_dicts(artifact):
    plain = write_manifest(artifact, recipe="int8")
    assert plain.normalisation is None and plain.resize == "letterbox" and plain.compiled_soc is None
    assert plain.signatures == [] and plain.pta_configs == {} and plain.trained_on == {}
    assert not plain.compiled_from("MT6989", "m.tflite")
    configs = {"LLL": {"file": "m_LLL.tflite"}, "HHH": {"file": "m_HHH.tflite"}}
    m = write_manifest(
        artifact,
        recipe="int8",
        input={"dtype": "int8", "normalisation": {"scale": 0.5, "offset": -1.0}, "resize": "stretch"},
        compiled={"soc": "mt6989", "source": "m.tflite"},
        pta={"signatures": ["LLL", "HHH"], "configs": configs},
        training_data={"root": "/data/lanes", "val_split": "val"},
    )
    assert m.normalisation == {"scale": 0.5, "offset": -1.0} and m.resize == "stretch"
    assert m.compiled_soc == "mt6989" and m.compiled_from("MT6989", "m.tflite")
    assert not m.compiled_from("MT6989", "other.tflite") and not m.compiled_from("SM8650", "m.tflite")
    assert m.signatures == ["LLL", "HHH"] and m.pta_configs == configs
    assert m.trained_on == {"root": "/data/lanes", "val_split": "val"}
    # a configuration's own file lists just its name: no configurations to look up there
    assert write_manifest(artifact, recipe="int8", pta={"configs": ["LLL"]}).pta_configs == {}


def test_the_dict_view_is_deprecated_and_not_a_mapping(artifact):
    from collections.abc import Mapping

    from edgeseg.artifact import recipe_of, signatures_of
    from edgeseg.fileio import atomic_write_json

    m = write_manifest(artifact, recipe="int8", input={"dtype": "int8"})
    assert not isinstance(m, Mapping)
    with pytest.warns(DeprecationWarning, match=r"read its attribute \(manifest.recipe\)"):
        assert m["recipe"] == "int8"
    with pytest.warns(DeprecationWarning):
        assert m.get("pta") is None and m.get("pta", {}) == {}
    with pytest.warns(DeprecationWarning):
        assert "input" in m and "pta" not in m and "extra" not in m
    with pytest.warns(DeprecationWarning), pytest.raises(KeyError):
        m["extra"]
    # JSON writers take it as its file's object
    atomic_write_json(artifact.parent / "copy.json", {"manifest": m})
    assert json.loads((artifact.parent / "copy.json").read_text())["manifest"] == m.to_dict()
    assert recipe_of(m) == "int8" and recipe_of(None) == "unknown" and recipe_of(m.replace(recipe=None)) == "unknown"
    assert signatures_of(None) == []

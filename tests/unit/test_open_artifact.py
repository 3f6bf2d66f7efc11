"""open_artifact: the one opening of an artifact that host and device evaluation share (the
.tflite, its manifest, the dataset, the signature to score); no interpreter is run here."""

import pytest

from edgeseg.artifact import write_manifest
from edgeseg.errors import ArtifactError, DataError
from edgeseg.runtime.artifact_io import OpenedArtifact, open_artifact

CAMVID = [
    "Sky",
    "Building",
    "Pole",
    "Road",
    "Pavement",
    "Tree",
    "SignSymbol",
    "Fence",
    "Car",
    "Pedestrian",
    "Bicyclist",
]


@pytest.fixture
def art(tmp_path, tiny_tflite_bytes):
    path = tmp_path / "arts" / "m_int8.tflite"
    path.parent.mkdir()
    path.write_bytes(tiny_tflite_bytes)
    return path


def test_an_artifact_without_a_manifest_opens_with_defaults(art, segnet_dataset):
    opened = open_artifact(art, segnet_dataset)
    assert isinstance(opened, OpenedArtifact) and opened.path == art and opened.manifest is None
    assert opened.signatures == (None,) and opened.resize == "letterbox" and opened.recipe == "unknown"
    assert opened.dataset.num_classes == 11
    assert opened.base_row("val") == {
        "artifact": "m_int8",
        "recipe": "unknown",
        "dataset": str(opened.dataset.root),
        "split": "val",
    }


def test_the_manifest_gives_recipe_resize_and_signatures(art, segnet_dataset):
    configs = {c: {"file": f"m_{c}.tflite"} for c in ("LLL", "HHH")}
    write_manifest(
        art, recipe="int8", input={"resize": "stretch"}, pta={"signatures": list(configs), "configs": configs}
    )
    opened = open_artifact(art, segnet_dataset)
    assert opened.signatures == ("LLL", "HHH") and opened.resize == "stretch" and opened.recipe == "int8"
    assert opened.base_row("test", "HHH")["artifact"] == "m_int8:HHH" and opened.label("LLL") == "m_int8:LLL"
    assert open_artifact(art, segnet_dataset, signature="HHH").signatures == ("HHH",)
    with pytest.raises(DataError, match=r"has no configuration 'BBB' \(it has LLL, HHH\)"):
        open_artifact(art, segnet_dataset, signature="BBB")


def test_the_file_is_checked_before_the_dataset_then_sha256_then_classes(art, segnet_dataset, tmp_path):
    (tmp_path / "bad.tflite").write_bytes(b"PK\x03\x04 not a model")
    with pytest.raises(ArtifactError, match="is not a TFLite model"):
        open_artifact(tmp_path / "bad.tflite", tmp_path / "no-such-dataset")
    write_manifest(art, recipe="int8", classes=list(reversed(CAMVID)))
    with pytest.raises(DataError, match="was trained on other classes than"):
        open_artifact(art, segnet_dataset)
    assert open_artifact(art, segnet_dataset, classes_from="dataset").manifest.recipe == "int8"
    art.write_bytes(art.read_bytes() + b"\0")
    with pytest.raises(ArtifactError, match="does not match its manifest"):
        open_artifact(art, segnet_dataset)

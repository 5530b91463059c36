from __future__ import annotations

from pathlib import Path

import pytest

from tagloop.errors import DataNotFound, ManifestInvalid
from tagloop.ingest.sources import CsvSource, FolderSource, build_source


def test_folder_source_counts_nested_files_and_ignores_hidden(tmp_path: Path) -> None:
    (tmp_path / "cat" / "2024" / "summer").mkdir(parents=True)
    (tmp_path / "dog").mkdir()
    (tmp_path / ".git").mkdir()
    (tmp_path / "cat" / "a.jpg").write_bytes(b"x")
    (tmp_path / "cat" / "2024" / "summer" / "b.png").write_bytes(b"x")
    (tmp_path / "cat" / ".DS_Store").write_bytes(b"x")
    (tmp_path / "dog" / "c.jpg").write_bytes(b"x")
    (tmp_path / ".git" / "HEAD").write_bytes(b"x")
    (tmp_path / "README.txt").write_text("not in a label folder")
    source = build_source(tmp_path)
    assert isinstance(source, FolderSource)
    got = sorted((Path(i.display_path).relative_to(tmp_path).as_posix(), i.labels) for i in source)
    assert got == [
        ("cat/2024/summer/b.png", ("cat",)),
        ("cat/a.jpg", ("cat",)),
        ("dog/c.jpg", ("dog",)),
    ]
    assert len(source) == 3 and source.get_name(0).endswith("b.png")


def test_csv_source_splits_labels_and_keeps_metadata(tmp_path: Path) -> None:
    manifest = tmp_path / "m.csv"
    manifest.write_text(
        "path,label,sender_id\nimg/a.jpg,cat;dog,7\nimg/b.jpg, dog ,8\nimg/c.jpg,,9\n"
    )
    source = build_source(manifest)
    assert isinstance(source, CsvSource)
    assert [i.labels for i in source] == [("cat", "dog"), ("dog",), ()]
    assert [i.metadata["sender_id"] for i in source] == ["7", "8", "9"]
    assert source[0].path == tmp_path / "img" / "a.jpg"
    assert source[0].display_path == f"{tmp_path}/img/a.jpg"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("file,tag\na.jpg,x\n", "must have the columns path,label"),
        ("path,label\n,x\n", "the path is empty"),
    ],
)
def test_bad_manifests_are_refused(tmp_path: Path, content: str, message: str) -> None:
    manifest = tmp_path / "m.csv"
    manifest.write_text(content)
    with pytest.raises(ManifestInvalid, match=message):
        build_source(manifest)


def test_missing_or_wrong_data_paths(tmp_path: Path) -> None:
    with pytest.raises(DataNotFound, match="does not exist"):
        build_source(tmp_path / "nope")
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(DataNotFound, match="neither a folder nor a .csv"):
        build_source(tmp_path / "x.txt")

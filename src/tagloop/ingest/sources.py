"""Dataset sources: a folder with one subfolder per label, or a CSV manifest.

A source lists :class:`ImageItem` values; it reads no image. Sources follow the small
``__len__`` / ``__getitem__`` / ``get_name`` contract so new kinds plug in easily.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from pathlib import Path

from tagloop.errors import DataNotFound, ManifestInvalid
from tagloop.types import ImageItem

LABEL_SEPARATOR = ";"


class Source:
    """A list of items with a name; subclasses fill ``items``."""

    items: Sequence[ImageItem]
    root: Path

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> ImageItem:
        return self.items[index]

    def __iter__(self) -> Iterator[ImageItem]:
        return iter(self.items)

    def get_name(self, index: int) -> str:
        return self.items[index].display_path


class FolderSource(Source):
    """``DATA/<label>/**/<image>``: every file under a label folder belongs to that label.

    Hidden files and folders (``.DS_Store``, ``.git``) are ignored; any other file is listed, so a
    file that is not an image is reported as skipped rather than silently dropped.
    """

    def __init__(self, root: Path, display_root: str | None = None) -> None:
        self.root = root
        shown = display_root if display_root is not None else str(root)
        items: list[ImageItem] = []
        for label_dir in sorted(p for p in root.iterdir() if p.is_dir() and _visible(p.name)):
            for path in sorted(label_dir.rglob("*")):
                rel = path.relative_to(root)
                if path.is_file() and all(_visible(part) for part in rel.parts):
                    items.append(
                        ImageItem(
                            path=path,
                            display_path=_join(shown, rel.as_posix()),
                            labels=(label_dir.name,),
                        )
                    )
        self.items = items


class CsvSource(Source):
    """A CSV with columns ``path,label``; other columns are kept as metadata.

    Paths are relative to the CSV's folder (absolute paths are used as they are). Several labels
    are separated by ``;``. A row without a label is an untagged image.
    """

    def __init__(self, csv_path: Path, display_path: str | None = None) -> None:
        self.root = csv_path.parent
        shown_root = str(Path(display_path or str(csv_path)).parent)
        try:
            with csv_path.open(newline="", encoding="utf-8-sig") as handle:
                reader = csv.DictReader(handle)
                columns = [c.strip() for c in reader.fieldnames or []]
                missing = {"path", "label"} - set(columns)
                if missing:
                    raise ManifestInvalid(
                        f"{csv_path} must have the columns path,label "
                        f"(missing: {', '.join(sorted(missing))}; found: {', '.join(columns)})"
                    )
                rows = [
                    {(k or "").strip(): (v or "").strip() for k, v in r.items()} for r in reader
                ]
        except UnicodeDecodeError:
            raise ManifestInvalid(f"{csv_path} is not a UTF-8 text CSV file") from None
        except csv.Error as exc:
            raise ManifestInvalid(f"{csv_path} is not a valid CSV file: {exc}") from None
        items: list[ImageItem] = []
        for line_no, row in enumerate(rows, start=2):
            if not row.get("path"):
                raise ManifestInvalid(f"{csv_path}, line {line_no}: the path is empty")
            rel = row["path"]
            labels = tuple(
                dict.fromkeys(p.strip() for p in row["label"].split(LABEL_SEPARATOR) if p.strip())
            )
            metadata = {k: v for k, v in row.items() if k not in ("path", "label")}
            items.append(
                ImageItem(
                    path=(self.root / rel),
                    display_path=rel if Path(rel).is_absolute() else _join(shown_root, rel),
                    labels=labels,
                    metadata=metadata,
                )
            )
        self.items = items


def build_source(data: str | Path) -> Source:
    """A folder gives a :class:`FolderSource`, a ``.csv`` file a :class:`CsvSource`."""
    path = Path(data)
    if path.is_dir():
        return FolderSource(path, display_root=str(data))
    if path.is_file() and path.suffix.lower() == ".csv":
        return CsvSource(path, display_path=str(data))
    if path.exists():
        raise DataNotFound(
            f"{data} is neither a folder nor a .csv manifest; pass a folder with one subfolder "
            "per label, or a CSV with columns path,label"
        )
    raise DataNotFound(f"{data} does not exist")


def _visible(name: str) -> bool:
    return not name.startswith(".") and name != "__MACOSX"


def _join(root: str, rel: str) -> str:
    return rel if root in ("", ".") else f"{root.rstrip('/')}/{rel}"

from datetime import datetime

from tagloop.store.records import TagRecord
from tagloop.workspace.readiness import tag_count_warnings


def tag(name: str, n: int, type: str = "Regular") -> TagRecord:
    return TagRecord(name, "p", name, "", type, datetime(2026, 1, 1), n)


def test_balanced_well_filled_tags_give_no_warning() -> None:
    assert tag_count_warnings([tag("a", 6), tag("b", 80)]) == []


def test_one_tag_is_an_error() -> None:
    found = tag_count_warnings([tag("a", 60), tag("b", 0), tag("Negative", 9, "Negative")])
    assert [w.severity for w in found] == ["error"]


def test_tiny_tags_are_named() -> None:
    found = tag_count_warnings([tag("a", 3), tag("b", 20), tag("c", 60)])
    assert [w.severity for w in found] == ["error"]
    assert "a" in found[0].message and "b" not in found[0].message


def test_small_or_unbalanced_tags_are_left_to_the_data_check() -> None:
    assert tag_count_warnings([tag("big", 150), tag("small", 25)]) == []


def test_untagged_images_are_mentioned() -> None:
    found = tag_count_warnings([tag("a", 60), tag("b", 60)], n_untagged=7)
    assert [w.message.split()[0] for w in found] == ["7"]

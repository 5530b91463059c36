"""The blob store: pinned blobs survive collection; old orphans and staging files are found."""

from __future__ import annotations

import os
import time
from pathlib import Path

from tagloop.store.blobs import STAGING_PREFIX, BlobStore


def test_a_pinned_blob_survives_collection_until_released(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path / "blobs")
    sha = blobs.sha_of(b"photo")
    with blobs.pin(sha):
        assert blobs.put(b"photo") == sha
        with blobs.pin(sha):  # pins nest (two requests with the same bytes)
            pass
        assert blobs.delete({sha}) == 0 and blobs.exists(sha)
    assert blobs.delete({sha}) == 1 and not blobs.exists(sha)


def test_a_put_after_a_delete_writes_the_file_again(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path / "blobs")
    sha = blobs.put(b"photo")
    blobs.delete({sha})
    with blobs.pin(sha):
        blobs.put(b"photo")
    assert blobs.read(sha) == b"photo"


def test_old_blobs_and_staging_files_are_listed_new_ones_are_not(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path / "blobs")
    old, new = blobs.put(b"old"), blobs.put(b"new")
    staging = blobs.path(old).parent / f"{STAGING_PREFIX}abc"
    staging.write_bytes(b"half")
    an_hour_ago = time.time() - 3600
    for path in (blobs.path(old), staging):
        os.utime(path, (an_hour_ago, an_hour_ago))
    shas, stale = blobs.older_than(600)
    assert shas == {old} and stale == [staging]
    assert new not in shas

from __future__ import annotations

from pathlib import Path

import pytest

from tagloop.config import Settings, load_settings
from tagloop.errors import SettingsInvalid


def test_precedence_defaults_toml_env_overrides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    toml = tmp_path / "tagloop.toml"
    toml.write_text("batch_size = 8\nn_threads = 1\nmax_image_pixels = 1000\n")
    monkeypatch.setenv("TAGLOOP_CONFIG", str(toml))
    monkeypatch.setenv("TAGLOOP_N_THREADS", "3")
    settings = load_settings(max_image_pixels=5000)
    assert (settings.batch_size, settings.n_threads, settings.max_image_pixels) == (8, 3, 5000)


def test_invalid_settings_are_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAGLOOP_BATCH_SIZE", "0")
    with pytest.raises(SettingsInvalid, match="batch_size"):
        load_settings()


def test_every_setting_is_documented() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "settings.md").read_text()
    for name in Settings.model_fields:
        assert f"TAGLOOP_{name.upper()}" in doc, name

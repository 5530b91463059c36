"""Settings: defaults < ``tagloop.toml`` < ``TAGLOOP_*`` environment < explicit overrides."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from tagloop.errors import SettingsInvalid


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/tagloop`` (``~/.local/share/tagloop``): the service's database and blobs."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "tagloop"


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/tagloop`` (``~/.cache/tagloop``): exported backbones and embeddings."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tagloop"


class Settings(BaseSettings):
    """All settings of tagloop. Each field is documented in ``docs/settings.md``."""

    model_config = SettingsConfigDict(env_prefix="TAGLOOP_", extra="forbid", frozen=True)

    cache_dir: Path = Field(
        default_factory=default_cache_dir,
        description="Where exported backbones and cached embeddings are kept.",
    )
    max_image_pixels: int = Field(
        default=89_478_485,
        gt=0,
        description="Images with more pixels than this are refused (decompression-bomb guard).",
    )
    batch_size: int = Field(default=32, gt=0, le=1024, description="Images per inference batch.")
    n_threads: int = Field(
        default=0, ge=0, description="CPU threads for inference and decoding; 0 means all cores."
    )
    log_level: str = Field(default="WARNING", description="Log level of the shells.")
    check_min_side: int = Field(
        default=64,
        ge=1,
        description="`tagloop check`: images with a smaller side are too small.",
    )
    check_max_pixels: int = Field(
        default=4_000_000,
        gt=0,
        description="`tagloop check`: images with more pixels are worth downsizing.",
    )

    # The service (`tagloop serve`).
    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="The service's database (unless database_url is set), blobs and keys.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the metadata database; default SQLite in data_dir.",
    )
    training_key: str | None = Field(
        default=None, description="Training key; generated and stored in data_dir when unset."
    )
    prediction_key: str | None = Field(
        default=None, description="Prediction key; generated and stored in data_dir when unset."
    )
    max_training_image_bytes: int = Field(
        default=6 * 1024 * 1024, gt=0, description="Largest training image upload, in bytes."
    )
    max_prediction_image_bytes: int = Field(
        default=4 * 1024 * 1024, gt=0, description="Largest image sent for prediction, in bytes."
    )
    max_batch_images: int = Field(
        default=64, gt=0, description="Most images in one upload or prediction-import batch."
    )
    requests_per_minute_per_key: int = Field(
        default=6000,
        gt=0,
        description="Requests one key may make per minute (a burst of as many is allowed); "
        "more get 429 with Retry-After.",
    )
    max_concurrent_requests_per_key: int = Field(
        default=16,
        gt=0,
        description="Requests one key may have in flight at once; more get 429 with "
        "Retry-After (the service has 40 worker threads in all).",
    )
    orphan_min_age_seconds: float = Field(
        default=600.0,
        ge=0,
        description="At start, files no row refers to (left by a killed upload) are removed once "
        "this old; younger ones may belong to another process sharing the data dir.",
    )
    stored_predictions_per_project: int = Field(
        default=10_000,
        gt=0,
        description="Stored predictions kept per project; storing one more removes the oldest "
        "(and its image, unless a training image or another prediction uses it).",
    )
    stored_prediction_days: float = Field(
        default=90.0,
        gt=0,
        description="Days a stored prediction is kept; older ones are removed when the project "
        "stores its next prediction.",
    )
    min_image_side: int = Field(
        default=16, ge=1, description="Images narrower or lower than this (pixels) are refused."
    )
    allow_private_urls: bool = Field(
        default=False,
        description="Let URL uploads and predictions fetch loopback, private and link-local hosts.",
    )
    advanced_budget_seconds: float = Field(
        default=600.0,
        gt=0,
        le=24 * 3600,
        description="Budget of advanced training when a request names none (seconds); Custom "
        "Vision's reservedBudgetInHours caps it.",
    )
    url_timeout_seconds: float = Field(
        default=10.0, gt=0, description="Time limit for fetching an image URL."
    )
    max_concurrent_url_fetches: int = Field(
        default=8,
        gt=0,
        description="Requests that fetch image URLs at the same time; more wait for a slot "
        "without holding a worker thread, so slow image hosts cannot starve other requests.",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = Path(os.environ.get("TAGLOOP_CONFIG", "tagloop.toml"))
        return (
            init_settings,
            env_settings,
            TomlConfigSettingsSource(settings_cls, toml_file=toml_file),
        )

    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'tagloop.sqlite'}"

    def resolved_threads(self) -> int:
        return self.n_threads or (os.cpu_count() or 1)


def load_settings(**overrides: Any) -> Settings:
    """Build Settings once, in a shell; ``overrides`` (CLI flags) win over everything else."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise SettingsInvalid(f"invalid settings: {problems}") from None

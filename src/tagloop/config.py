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

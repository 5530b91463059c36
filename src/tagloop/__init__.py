"""tagloop: build, evaluate, improve and serve custom image classifiers on your own machine."""

from tagloop.config import Settings, load_settings
from tagloop.errors import TagloopError
from tagloop.project import Project
from tagloop.train.service import TrainSpec

__version__ = "0.1.0"
__all__ = ["Project", "Settings", "TagloopError", "TrainSpec", "__version__", "load_settings"]

"""Inputs: video files and URLs (PyAV), webcams (OpenCV), still images, and the built-in demo clip."""

from __future__ import annotations

from streamseg.capture.base import FrameSource, SourceBase, SourceStats
from streamseg.capture.demo import CACHE_ENV, default_cache_dir, demo_clip_path
from streamseg.capture.factory import create_source, open_source
from streamseg.capture.images import ImageSource
from streamseg.capture.live import HEALTH_STATES, LiveSource, ReconnectPolicy
from streamseg.capture.pyav_file import PyAVFileSource
from streamseg.capture.webcam import WebcamSource, parse_webcam_uri

__all__ = [
    "CACHE_ENV",
    "HEALTH_STATES",
    "FrameSource",
    "ImageSource",
    "LiveSource",
    "PyAVFileSource",
    "ReconnectPolicy",
    "SourceBase",
    "SourceStats",
    "WebcamSource",
    "create_source",
    "default_cache_dir",
    "demo_clip_path",
    "open_source",
    "parse_webcam_uri",
]

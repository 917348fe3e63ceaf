"""Streams: run any task model over video files, cameras, RTSP/HTTP streams, image folders or iterables of
frames, with pipelined stages, bounded latency for live sources and optional tracking. Start one with
``model.stream(source, ...)``."""

from __future__ import annotations

from .pipeline import Stream, StreamItem
from .sources import (IMAGE_SUFFIXES, VIDEO_SUFFIXES, ImageSequenceSource, IterableSource, SceneSource, Source,
                      VideoSource, is_stream_source, open_source)
from .writer import VideoOutput, json_line, write_json_line

__all__ = ["Stream", "StreamItem", "Source", "VideoSource", "ImageSequenceSource", "IterableSource", "SceneSource",
           "open_source", "is_stream_source", "VideoOutput", "json_line", "write_json_line", "IMAGE_SUFFIXES",
           "VIDEO_SUFFIXES"]

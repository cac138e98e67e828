"""Video analytics core: decoded frames in, video events out (motion in zones, tamper, smoke
and flame cues), plus video-loss timing. Pure: numpy arrays and timestamps come from the
caller; no I/O, no threads, no clock. One `Analyzer` per camera.
"""

from sensors.video.analyzer import Analyzer
from sensors.video.config import Arming, BackgroundModel, CameraConfig, FireCueConfig, MotionConfig, TamperConfig, Zone
from sensors.video.errors import UnusableFrame, VideoConfigError, VideoError
from sensors.video.loss import VideoLossWatch
from sensors.video.model import Phase, VideoEvent, VideoEventType
from sensors.video.schedule import SITE_TZ, is_open

__all__ = [
    "SITE_TZ",
    "Analyzer",
    "Arming",
    "BackgroundModel",
    "CameraConfig",
    "FireCueConfig",
    "MotionConfig",
    "Phase",
    "TamperConfig",
    "UnusableFrame",
    "VideoConfigError",
    "VideoError",
    "VideoEvent",
    "VideoEventType",
    "VideoLossWatch",
    "Zone",
    "is_open",
]

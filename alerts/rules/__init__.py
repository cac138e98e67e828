"""Alert rules: one module per family (fire, security, devices, thresholds, video_drone), pure
functions over their state and the shared book of open alerts, combined by `engine`."""

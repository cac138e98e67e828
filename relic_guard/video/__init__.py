"""The video runtime: real frame sources through the video analyzer (`sensors.video`), video
events and evidence snapshots out over MQTT.

It runs as a process of its own (`relic-guard video`, or a child of `relic-guard run`), so that
decoding and analysing frames never take a core from the alarm lane or the telemetry workers, and
so that it can run on a machine next to the NVR: it only speaks MQTT and writes the evidence folder.
"""

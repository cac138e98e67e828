"""Drone analysis (无人机巡查 of large sites, 大型遗址).

The core is pure, no I/O, `now` passed in: `osd` turns the DJI adapter's OSD records into
samples; `flights` segments them into flights (takeoff to landing, link losses, tracks);
`geofence` finds crossings out of a site's allowed area and into no-fly zones; `coverage` says
which share of a site the camera has seen and where the holes are; `safety` raises low battery
against the way home, lost links, returns and forced landings. Geometry is metric, in a
transverse Mercator plane per site (`projection`, `area`). Errors derive from `errors.DroneError`.

Its edges in the daemon: `feed` (samples from the telemetry workers), `zones_load` (the
`[drones] zones_file`), `monitor` (the core on the event loop: alerts, flights stored) and `api`
(`/api/drones/…`).
"""

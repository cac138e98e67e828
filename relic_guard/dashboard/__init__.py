"""The web dashboard of the monitoring center and the custodians' mobile page.

    app.py      `mount_dashboard(app, deps)`: pages, static files, templates, login
    users.py    users, argon2 hashes, server-side sessions, login throttling
    i18n.py     zh-CN first, English available; every page module registers its words
    live.py     Server-Sent Events: the live alert queue
    mapview.py  the sites map as inline SVG (no tiles, nothing fetched)
    charts.py   readings as chart series (vendored uPlot draws them)
"""

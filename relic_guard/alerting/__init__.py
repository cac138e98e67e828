"""The alert engine at work in the daemon: records in, deliveries out, everything written down.

    service.AlertService      engine + routing + escalation + grouping + maintenance, on the loop
    dispatch.Dispatcher       deliveries over the channels, retries, fallback, undelivered counts
    journal.AlertJournal      alert snapshots, timeline, deliveries and audit entries to the
                              database in order, held in memory (and on disk at exit) while it is down
    records                   the values these exchange
"""

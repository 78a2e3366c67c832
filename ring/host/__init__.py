"""Composition roots: where config, core, engine, transport, server and HTTP side meet.

    instance   one ring instance of this process (`ring serve`)
    startup    the start-up checks: peer clocks, the designated backup
    http       the hosted WSGI app on waitress, with the health endpoints balancers check
    admin      the admin address: /metrics, /livez, /readyz, the status page (statuspage)
    reload     what a SIGHUP may change at run time; logs: text or JSON log lines
"""

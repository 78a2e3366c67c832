"""Composition roots: where config, core, engine, transport, server and HTTP side meet.

    instance   one ring instance of this process (`ring serve`)
    startup    the start-up checks: peer clocks, the designated backup
    http       the hosted WSGI app on waitress, with the health and metrics endpoints
"""

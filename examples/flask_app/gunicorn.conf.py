# gunicorn settings for examples/flask_app: 3 sync workers, each reaching the ring instance on
# this host through its Unix socket (ring.client connects lazily in each worker: preload is safe).
workers = 3
bind = "127.0.0.1:8000"
preload_app = True
timeout = 30

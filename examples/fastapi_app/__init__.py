"""examples.fastapi_app.app:app, for gunicorn and uvicorn workers (ring serve --asgi takes app:app)."""

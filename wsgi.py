"""WSGI entry point: `gunicorn wsgi:app`, `flask --app wsgi ...`."""

from xuetang import create_app

app = create_app()

"""WSGI entry point: `gunicorn wsgi:app`, `flask --app wsgi ...`."""

import sys

from xuetang import create_app

# A heartbeat holds the database's write lock across a few SQLite calls, each of which releases
# the GIL; with Python's default 5 ms switch interval a busy sibling thread keeps it that long
# every time, and every other beat of the server queues behind the lock meanwhile (py-spy:
# two thirds of a beat's time was waiting on the lock, not working under it). 0.5 ms hands the
# GIL back quickly at a small cost in switches (docs/performance.md, Heartbeats).
sys.setswitchinterval(0.0005)

app = create_app()

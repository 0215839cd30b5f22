"""The job worker's entry point: `huey_consumer worker.huey` (`make run` starts it)."""

from xuetang import create_app

app = create_app()
huey = app.extensions["jobs"].huey

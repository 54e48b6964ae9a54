"""The application object for ``uvicorn worker.api.serve:app`` (several worker processes)."""

from worker.api.app import create_app

app = create_app()

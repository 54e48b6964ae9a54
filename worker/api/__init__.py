"""The HTTP service (``ticketfusion api``): FastAPI on uvicorn, in front of the producers and the CRM."""

from worker.api.app import create_app

__all__ = ["create_app"]

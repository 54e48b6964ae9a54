"""``ticketfusion api`` and ``ticketfusion keys``: the HTTP service and its API keys."""

from __future__ import annotations

import argparse
import json
import sys

from rich.console import Console
from rich.table import Table

from worker.settings import Settings


def serve_api(args: argparse.Namespace, settings: Settings) -> int:
    """Run the API on uvicorn (``--workers`` processes; each opens its own pools)."""
    import uvicorn

    if args.workers > 1:
        uvicorn.run("worker.api.serve:app", host=args.host, port=args.port, workers=args.workers,
                    log_level=settings.log_level.lower(), proxy_headers=True)
    else:
        from worker.api import create_app

        uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level=settings.log_level.lower(),
                    proxy_headers=True)
    return 0


def keys(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    """create NAME [--scopes] | list [--json] | revoke NAME."""
    from worker.crm.keys import KeyStore
    from worker.crm.store import CrmStore

    crm = CrmStore(settings.database_url)
    crm.migrate()
    store = KeyStore(crm)
    try:
        if args.keys_command == "create":
            scopes = [scope.strip() for scope in args.scopes.split(",") if scope.strip()]
            key, info = store.create(args.name, scopes)
            console.print(f"created key {info.name!r} (id {info.key_id}, scopes {', '.join(info.scopes)}); "
                          "it is shown once, here, and stored only as a hash:")
            sys.stdout.write(key + "\n")
        elif args.keys_command == "list":
            found = store.list()
            if args.json:
                for info in found:
                    sys.stdout.write(json.dumps(info.as_dict()) + "\n")
            else:
                table = Table(title="API keys")
                for column in ("name", "id", "scopes", "created", "revoked"):
                    table.add_column(column)
                for info in found:
                    table.add_row(info.name, info.key_id, ",".join(info.scopes), info.created_at.isoformat(timespec="seconds"),
                                  info.revoked_at.isoformat(timespec="seconds") if info.revoked_at else "-")
                Console().print(table)
        else:
            count = store.revoke(args.name)
            console.print(f"revoked {count} key(s) named {args.name!r}; requests with it are refused from now on")
    finally:
        crm.dispose()
    return 0

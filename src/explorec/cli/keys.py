"""``explorec keys``: create, list and revoke the service's API keys (stored hashed in the store)."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "keys",
        help="API keys of the service: create (the secret is printed once), list, revoke",
        description="Manage the API keys that `explorec serve` accepts as 'Authorization: Bearer KEY'. "
        "Scopes: read (GET routes), write (also POST items/users/feedback, DELETE items), admin "
        "(also DELETE users, and /metrics when it is not open). Only a hash of each key is stored.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="create a key and print its secret (shown only once)")
    create.add_argument("--scope", choices=("read", "write", "admin"), default="read", help="default read")
    create.add_argument("--name", default="", help="a label for the key (e.g. the client's name)")
    listing = actions.add_parser("list", help="list keys (ids, scopes, names; never secrets)")
    revoke = actions.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id", help="the key's public id (see `explorec keys list`)")
    for p in (create, listing, revoke):
        p.add_argument("--config", default=None, help="service configuration file (TOML)")
        p.add_argument(
            "--database-url",
            default=None,
            help="store URL (default: from --config / $EXPLOREC_DATABASE_URL / sqlite:///explorec.db)",
        )
    parser.set_defaults(func=cmd_keys)


def cmd_keys(args: argparse.Namespace) -> int:
    from explorec.service.settings import load_settings
    from explorec.store import Store

    overrides = {} if args.database_url is None else {"database_url": args.database_url}
    settings = load_settings(args.config, **overrides)
    store = Store.open(settings.database_url)
    try:
        store.migrate()
        if args.action == "create":
            secret = store.create_key(scope=args.scope, name=args.name)
            print(secret)
        elif args.action == "list":
            for row in store.keys():
                state = "revoked" if row.revoked else "active"
                print(f"{row.key_id}\t{row.scope}\t{state}\t{row.name}")
        else:
            if not store.revoke_key(args.key_id):
                print(f"explorec keys revoke: no active key with id {args.key_id!r}")
                return 1
            print(f"revoked {args.key_id}")
    finally:
        store.close()
    return 0

#!/usr/bin/env python3
"""The Hub's accounts, as the deploy declares them. Runs inside the Hub container:

    jupytergpu-hub-accounts DB_URL list
        every account as JSON: [{"name": ..., "authorized": true|false}]
    jupytergpu-hub-accounts DB_URL ensure REQUEST GENERATED
        make each account REQUEST (a JSON file the deploy uploaded, removed once read) names
        exist and be authorized; print what was done as JSON

REQUEST is {"accounts": [names], "password_hashes": {name: bcrypt hash}}: passwords the admin
set travel as hashes made on the machine running pyinfra, never as text. An account without one
gets a generated password, appended to GENERATED ("name<TAB>password" lines, mode 0600) only
once the account exists. Accounts live in NativeAuthenticator's table of the Hub's database:
- an authorized account is never changed: its owner may have changed the password since;
- an unauthorized row under a declared name (a stranger's sign-up, still pending) is replaced.
Nothing secret is ever a command-line argument or printed.
"""

import json
import os
import secrets
import sys
import time

import bcrypt
from nativeauthenticator.orm import UserInfo
from sqlalchemy import create_engine, inspect
from sqlalchemy.orm import Session

WAIT_SECONDS = 180


def open_database(url: str) -> Session:
    """The Hub's database once the Hub has made it (it makes the accounts table at start)."""
    engine = create_engine(url)
    deadline = time.monotonic() + WAIT_SECONDS
    while UserInfo.__tablename__ not in inspect(engine).get_table_names():
        if time.monotonic() > deadline:
            sys.exit(f"the Hub did not create its accounts table in {url} within {WAIT_SECONDS} s")
        time.sleep(1)
    return Session(engine)


def read_request(path: str) -> dict:
    try:
        with open(path) as handle:
            return json.load(handle)
    finally:
        os.remove(path)


def record_generated(path: str, name: str, password: str) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(descriptor, "a") as handle:
        handle.write(f"{name}\t{password}\n")


def ensure(db: Session, request: dict, generated_file: str) -> dict:
    done = {"created": [], "replaced": [], "generated": []}
    hashes = request.get("password_hashes", {})
    for name in request["accounts"]:
        existing = UserInfo.find(db, name)
        if existing is not None and existing.is_authorized:
            continue
        if existing is not None:
            db.delete(existing)  # a pending sign-up under a declared name: never the owner's
            done["replaced"].append(name)
        password = None
        password_hash = hashes.get(name)
        if password_hash is None:
            password = secrets.token_urlsafe(12)
            password_hash = bcrypt.hashpw(password.encode(), bcrypt.gensalt()).decode()
        db.add(UserInfo(username=name, password=password_hash.encode(), is_authorized=True))
        db.commit()
        done["created"].append(name)
        if password is not None:
            record_generated(generated_file, name, password)
            done["generated"].append(name)
    return done


def main(url: str, command: str, *args: str) -> None:
    db = open_database(url)
    if command == "list":
        accounts = [{"name": info.username, "authorized": bool(info.is_authorized)}
                    for info in db.query(UserInfo).order_by(UserInfo.username)]
        print(json.dumps(accounts))
    elif command == "ensure" and len(args) == 2:
        print(json.dumps(ensure(db, read_request(args[0]), args[1])))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(*sys.argv[1:])

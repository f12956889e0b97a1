#!/usr/bin/env python3
"""The Hub's accounts, as the deploy declares them. Runs inside the Hub container:

    jupytergpu-hub-accounts DB_URL list
        every account as JSON: [{"name": ..., "authorized": true|false, "created": true|false|null}]
        ("created": whether the deploy made it; null before the deploy kept a record)
    jupytergpu-hub-accounts DB_URL ensure REQUEST GENERATED
        make each account REQUEST (a JSON file the deploy uploaded, removed once read) names
        exist and be authorized; print what was done as JSON

REQUEST is {"accounts": [names], "declared": [every declared name], "password_hashes": {name:
bcrypt hash}}: passwords the admin
set travel as hashes made on the machine running pyinfra, never as text. An account without one
gets a generated password, appended to GENERATED ("name<TAB>password" lines, mode 0600) only
once the account exists. Accounts live in NativeAuthenticator's table of the Hub's database:
- an authorized account the deploy made is never changed: its owner may have changed the
  password since;
- any other row under a declared name is replaced: a stranger's sign-up, pending or approved (a
  name added in the admin panel could be taken by whoever signed up first). CREATED_RECORD, beside
  the database, lists the accounts the deploy made; the first run that keeps it counts the
  authorized declared accounts as made by the deploy, as every earlier deploy made them.
Nothing secret is ever a command-line argument or printed.
"""

import json
import os
import secrets
import sqlite3
import sys
import time

WAIT_SECONDS = 180
ACCOUNTS_TABLE = "users_info"  # NativeAuthenticator's UserInfo
CREATED_RECORD = "created-accounts.json"


def record_path(url: str) -> str:
    return os.path.join(os.path.dirname(url.removeprefix("sqlite:///")), CREATED_RECORD)


def read_record(url: str) -> set[str] | None:
    try:
        with open(record_path(url)) as handle:
            return set(json.load(handle))
    except FileNotFoundError:
        return None


def write_record(url: str, names: set[str]) -> None:
    path = record_path(url)
    descriptor = os.open(f"{path}.new", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(sorted(names), handle)
    os.replace(f"{path}.new", path)


def wait_for_accounts_table(has_table, url: str) -> None:
    """Until the Hub has made its accounts table (it does at its first start)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not has_table():
        if time.monotonic() > deadline:
            sys.exit(f"the Hub did not create its accounts table in {url} within {WAIT_SECONDS} s")
        time.sleep(1)


def list_accounts(url: str) -> list[dict]:
    """Read-only, through the standard library: the deploy asks at every run, and importing the
    Hub's ORM for it took most of a second."""
    if not url.startswith("sqlite:///"):
        sys.exit(f"listing accounts needs the Hub's SQLite database, not {url}")
    db = sqlite3.connect(f"file:{url.removeprefix('sqlite:///')}?mode=ro", uri=True)
    wait_for_accounts_table(lambda: db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                                               (ACCOUNTS_TABLE,)).fetchone(), url)
    rows = db.execute(f"SELECT username, is_authorized FROM {ACCOUNTS_TABLE} ORDER BY username")
    created = read_record(url)
    return [{"name": name, "authorized": bool(authorized), "created": None if created is None else name in created}
            for name, authorized in rows]


def open_database(url: str):
    """A session on the Hub's database, through NativeAuthenticator's own model."""
    from sqlalchemy import create_engine, inspect
    from sqlalchemy.orm import Session

    engine = create_engine(url)
    wait_for_accounts_table(lambda: ACCOUNTS_TABLE in inspect(engine).get_table_names(), url)
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


def ensure(db, url: str, request: dict, generated_file: str) -> dict:
    import bcrypt
    from nativeauthenticator.orm import UserInfo

    if UserInfo.__tablename__ != ACCOUNTS_TABLE:  # list_accounts reads the table by name
        sys.exit(f"NativeAuthenticator keeps accounts in {UserInfo.__tablename__} now, not {ACCOUNTS_TABLE}")
    done = {"created": [], "replaced": [], "generated": []}
    hashes = request.get("password_hashes", {})
    created = read_record(url)
    if created is None:  # the first run that keeps the record
        created = {name for name in request.get("declared", []) if (row := UserInfo.find(db, name)) and row.is_authorized}
        write_record(url, created)
    for name in request["accounts"]:
        existing = UserInfo.find(db, name)
        if existing is not None and existing.is_authorized and name in created:
            continue
        if existing is not None:
            db.delete(existing)  # a sign-up under a declared name: never the declared account
            done["replaced"].append(name)
        password = None
        password_hash = hashes.get(name)
        if password_hash is None:
            password = secrets.token_urlsafe(12)
            password_hash = bcrypt.hashpw(password.encode(), bcrypt.gensalt()).decode()
        db.add(UserInfo(username=name, password=password_hash.encode(), is_authorized=True))
        db.commit()
        created.add(name)
        write_record(url, created)
        done["created"].append(name)
        if password is not None:
            record_generated(generated_file, name, password)
            done["generated"].append(name)
    return done


def main(url: str, command: str, *args: str) -> None:
    if command == "list":
        print(json.dumps(list_accounts(url)))
    elif command == "ensure" and len(args) == 2:
        print(json.dumps(ensure(open_database(url), url, read_request(args[0]), args[1])))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(*sys.argv[1:])

#!/usr/bin/env python3
"""The Hub's accounts, as the deploy declares them. Runs inside the Hub container:

    jupytergpu-hub-accounts DB_URL list           existing account names, one per line
    jupytergpu-hub-accounts DB_URL create NAME    create NAME, approved, with the password read
                                                  from standard input (never a command argument)

Accounts live in NativeAuthenticator's table of the Hub's database. An existing account is
never changed: its owner may have changed the password since.
"""

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


def main(url: str, command: str, *names: str) -> None:
    db = open_database(url)
    if command == "list":
        for info in db.query(UserInfo).order_by(UserInfo.username):
            print(info.username)
    elif command == "create" and len(names) == 1:
        name = names[0]
        if UserInfo.find(db, name):
            print(f"account {name} exists; left unchanged")
            return
        password = sys.stdin.read().rstrip("\n")
        if not password:
            sys.exit(f"no password given for {name} on standard input")
        db.add(UserInfo(username=name, password=bcrypt.hashpw(password.encode(), bcrypt.gensalt()),
                        is_authorized=True))
        db.commit()
        print(f"account {name} created")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(*sys.argv[1:])

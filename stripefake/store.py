"""Every object the fake holds, in memory, optionally written through to a SQLite file.

Objects are the JSON dicts the API returns, plus private keys starting with `_` (the owning account,
internal bookkeeping) that rendering strips. Memory alone serves tests (fast, reset per test); the embedded
server behind `crowdship serve` passes a file so customers and accounts survive a restart, as the embedded
PostgreSQL that refers to them does. SQLite because it is in the standard library and a single-file
key-value table is all this needs.
"""

from __future__ import annotations

import copy
import json
import secrets
import sqlite3
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_ALPHABET = string.ascii_letters + string.digits

Obj = dict[str, Any]


def new_id(prefix: str, length: int = 24) -> str:
    return prefix + "_" + "".join(secrets.choice(_ALPHABET) for _ in range(length))


class Store:
    def __init__(self, path: str | Path | None = None) -> None:
        self._objects: dict[str, Obj] = {}
        self._by_kind: dict[str, list[str]] = {}
        self._dirty: set[str] = set()
        self._db: sqlite3.Connection | None = None
        self._journal: dict[str, Obj | None] | None = None
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS objects (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, "
                "body TEXT NOT NULL)"
            )
            for (body,) in self._db.execute("SELECT body FROM objects ORDER BY seq"):
                self._index(json.loads(body))

    def _index(self, obj: Obj) -> None:
        object_id = obj["id"]
        if object_id not in self._objects:
            self._by_kind.setdefault(obj["object"], []).append(object_id)
        self._objects[object_id] = obj

    def begin(self) -> None:
        """Starts remembering the first version of every object a request reads or writes."""
        self._journal = {}

    def _remember(self, object_id: str) -> None:
        if self._journal is not None and object_id not in self._journal:
            current = self._objects.get(object_id)
            self._journal[object_id] = None if current is None else copy.deepcopy(current)

    def rollback(self) -> None:
        """Undoes the request's changes: Stripe's calls either happen whole or not at all."""
        journal, self._journal = self._journal or {}, None
        for object_id, old in journal.items():
            current = self._objects.get(object_id)
            if old is None:
                if current is not None:
                    del self._objects[object_id]
                    self._by_kind[current["object"]].remove(object_id)
            elif current is None:
                self._index(old)
            else:
                self._objects[object_id] = old
            self._dirty.add(object_id)

    def put(self, obj: Obj) -> Obj:
        """Adds or replaces an object (by id); callers mutate dicts in place and `put` them again."""
        self._remember(obj["id"])
        self._index(obj)
        self._dirty.add(obj["id"])
        return obj

    def get(self, object_id: str, kind: str | None = None) -> Obj | None:
        obj = self._objects.get(object_id)
        if obj is None or (kind is not None and obj["object"] != kind):
            return None
        self._remember(object_id)
        return obj

    def delete(self, object_id: str) -> None:
        self._remember(object_id)
        obj = self._objects.pop(object_id, None)
        if obj is not None:
            self._by_kind[obj["object"]].remove(object_id)
            self._dirty.add(object_id)

    def newest_first(self, kind: str) -> Iterator[Obj]:
        for object_id in reversed(self._by_kind.get(kind, [])):
            yield self._objects[object_id]

    def oldest_first(self, kind: str) -> Iterator[Obj]:
        for object_id in list(self._by_kind.get(kind, [])):
            obj = self._objects.get(object_id)
            if obj is not None:
                yield obj

    def commit(self) -> None:
        """Writes what changed since the last commit (one transaction per API request)."""
        self._journal = None
        if self._db is None or not self._dirty:
            self._dirty.clear()
            return
        with self._db:
            self._db.execute("BEGIN")
            for object_id in self._dirty:
                obj = self._objects.get(object_id)
                if obj is None:
                    self._db.execute("DELETE FROM objects WHERE id = ?", (object_id,))
                else:
                    self._db.execute(
                        "INSERT INTO objects (id, body) VALUES (?, ?) "
                        "ON CONFLICT(id) DO UPDATE SET body = excluded.body",
                        (object_id, json.dumps(obj)),
                    )
        self._dirty.clear()

    def reset(self) -> None:
        self._objects.clear()
        self._by_kind.clear()
        self._dirty.clear()
        if self._db is not None:
            self._db.execute("DELETE FROM objects")

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

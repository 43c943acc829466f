-- The todo app's per-user schema: one file per user, migrated by package
-- tenant when the file is made or opened. Append blocks; never edit one that
-- has shipped.

-- migration: 1
CREATE TABLE todos (
    id         INTEGER PRIMARY KEY,
    title      TEXT NOT NULL,
    done       INTEGER NOT NULL DEFAULT 0 CHECK (done IN (0, 1)),
    created_at TEXT NOT NULL
);

-- migration: 2
CREATE INDEX todos_open ON todos (done, id);

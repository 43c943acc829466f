-- The per-user schema. Each block is one migration, applied in order in its
-- own transaction; PRAGMA user_version records how many a file has. Append new
-- blocks at the end; never edit one that has shipped.

-- migration: 1
CREATE TABLE account (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    username      TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    TEXT NOT NULL
);

CREATE TABLE notes (
    id         INTEGER PRIMARY KEY,
    title      TEXT NOT NULL,
    body       TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE INDEX notes_created ON notes (created_at DESC, id DESC);

CREATE VIRTUAL TABLE notes_fts USING fts5 (
    title, body,
    content = 'notes', content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2'
);

CREATE TRIGGER notes_ai AFTER INSERT ON notes BEGIN
    INSERT INTO notes_fts (rowid, title, body) VALUES (new.id, new.title, new.body);
END;

CREATE TRIGGER notes_ad AFTER DELETE ON notes BEGIN
    INSERT INTO notes_fts (notes_fts, rowid, title, body) VALUES ('delete', old.id, old.title, old.body);
END;

CREATE TRIGGER notes_au AFTER UPDATE ON notes BEGIN
    INSERT INTO notes_fts (notes_fts, rowid, title, body) VALUES ('delete', old.id, old.title, old.body);
    INSERT INTO notes_fts (rowid, title, body) VALUES (new.id, new.title, new.body);
END;

-- migration: 2
-- The full-text index is brought up to date in batches rather than by each
-- write: FTS5 writes a segment per transaction (about five pages for one
-- note), so a note is marked pending when written and indexed with others,
-- in one transaction, before the next search or once 64 are pending (see
-- notes.indexPending). Every row not pending is in notes_fts with exactly
-- its current title and body; a pending row is not in it at all.
ALTER TABLE notes ADD COLUMN pending INTEGER NOT NULL DEFAULT 0;

CREATE INDEX notes_pending ON notes (id) WHERE pending = 1;

DROP TRIGGER notes_ai;
DROP TRIGGER notes_ad;
DROP TRIGGER notes_au;

CREATE TRIGGER notes_ai AFTER INSERT ON notes BEGIN
    UPDATE notes SET pending = 1 WHERE id = new.id;
END;

CREATE TRIGGER notes_ad AFTER DELETE ON notes WHEN old.pending = 0 BEGIN
    INSERT INTO notes_fts (notes_fts, rowid, title, body) VALUES ('delete', old.id, old.title, old.body);
END;

CREATE TRIGGER notes_au AFTER UPDATE OF title, body ON notes WHEN old.pending = 0 BEGIN
    INSERT INTO notes_fts (notes_fts, rowid, title, body) VALUES ('delete', old.id, old.title, old.body);
    UPDATE notes SET pending = 1 WHERE id = new.id;
END;

-- migration: 3
-- notes_created, built newest first, took every new note at its left
-- end, where SQLite makes room by moving cells into the next leaves: a
-- create wrote three more pages once every few notes. Built oldest first,
-- a new note goes at the right end, and a newest-first listing reads the
-- index backwards at the same cost.
DROP INDEX notes_created;
CREATE INDEX notes_created ON notes (created_at, id);

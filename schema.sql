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

-- migration: 4
-- A new note is pending without a write of its own. notes_pending (an
-- index of the pending notes) took a page in every create's commit, and
-- notes_ai a second write of the row. Now the notes waiting to be indexed
-- (pending = 1) are, for the index, of two kinds: new ones, whose ids are
-- above the highest id when the last batch ran (notes_indexed.upto), which
-- a search of ids finds; and changed ones (an indexed note edited, or a
-- note given an id at or below that mark), which notes_changed lists. The
-- view pending_notes is both. A create writes its row already pending (see
-- notes.insertQuery): it touches the row's page and notes_created only.
ALTER TABLE notes ADD COLUMN changed INTEGER NOT NULL DEFAULT 0;

CREATE TABLE notes_indexed (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    upto INTEGER NOT NULL
);

INSERT INTO notes_indexed (id, upto) SELECT 1, coalesce(max(id), 0) FROM notes;

UPDATE notes SET changed = 1 WHERE pending = 1;

DROP INDEX notes_pending;

CREATE INDEX notes_changed ON notes (id) WHERE changed = 1;

CREATE VIEW pending_notes AS
    SELECT id, title, body FROM notes WHERE changed = 1
    UNION ALL
    SELECT id, title, body FROM notes
    WHERE id > (SELECT upto FROM notes_indexed) AND pending = 1 AND changed = 0;

DROP TRIGGER notes_ai;
DROP TRIGGER notes_au;

CREATE TRIGGER notes_ai AFTER INSERT ON notes
WHEN new.pending = 0 OR new.id <= (SELECT upto FROM notes_indexed) BEGIN
    UPDATE notes SET pending = 1, changed = (new.id <= (SELECT upto FROM notes_indexed))
    WHERE id = new.id;
END;

CREATE TRIGGER notes_au AFTER UPDATE OF title, body ON notes WHEN old.pending = 0 BEGIN
    INSERT INTO notes_fts (notes_fts, rowid, title, body) VALUES ('delete', old.id, old.title, old.body);
    UPDATE notes SET pending = 1, changed = 1 WHERE id = new.id;
END;

-- migration: 5
-- A listing is newest first by id, the order notes were made in (an id is
-- one above the highest when its note is made), so notes_created is not
-- needed: it only cost every create a second page in its commit (4 KiB more
-- written to the WAL, then to the disk, for a note of a few hundred bytes).
-- A create now touches the table's last page alone.
DROP INDEX notes_created;

package notes

import (
	"context"
	"fmt"

	"github.com/cubbyhq/cubby/tenant"
	"github.com/jmoiron/sqlx"
)

// The full-text index is kept in batches (schema.sql, migrations 2 and
// 4): a note written is marked pending, and the pending notes are indexed
// together, in one transaction, before the next search or once
// indexBatch of them wait. FTS5 writes a segment for every transaction
// that changes the index, about five pages for one note, so indexing
// notes one write at a time cost a create about twice what the rest of
// it did (BenchmarkCreate). A search never sees the index behind: it
// indexes what is pending first. A pending note lost to nothing: it is a
// row like any other, and the next batch indexes it, after a crash too.
//
// The view pending_notes finds the pending notes: the new ones by id
// (above notes_indexed.upto, the highest id when the last batch ran), the
// changed ones by the index notes_changed. So a create, which writes its
// row pending, writes no page of an index of pending notes.

// indexBatch is how many pending notes a write indexes at once.
const indexBatch = 64

const (
	// pendingQuery counts pending notes, up to its argument.
	pendingQuery = "SELECT count(*) FROM (SELECT 1 FROM pending_notes LIMIT ?)"
	// pendingColumn is, as the last column a write of one note returns (its
	// argument the write's last), how many notes are pending once the
	// write is done: the others (up to the argument), and the one written,
	// which is pending once the statement is done (a changed note is marked
	// by an AFTER trigger, after RETURNING has been computed).
	pendingColumn = "(SELECT count(*) FROM (SELECT 1 FROM pending_notes AS other" +
		" WHERE other.id <> notes.id LIMIT ?)) + 1"
	indexQuery = "INSERT INTO notes_fts (rowid, title, body) SELECT id, title, body FROM pending_notes"
	// Once indexed, the changed notes, then the new ones, are marked so, and
	// the mark moves up to the newest note.
	indexedChangedQuery = "UPDATE notes SET pending = 0, changed = 0 WHERE changed = 1"
	indexedNewQuery     = "UPDATE notes SET pending = 0 WHERE id > (SELECT upto FROM notes_indexed) AND pending = 1"
	indexedMarkQuery    = "UPDATE notes_indexed SET upto = (SELECT coalesce(max(id), 0) FROM notes)"
)

// pendingNotes is how many notes wait to be indexed, counting at most
// indexBatch.
func pendingNotes(ctx context.Context, s *tenant.Store) (int, error) {
	var n int
	if err := s.GetContext(ctx, &n, pendingQuery, indexBatch); err != nil {
		return 0, fmt.Errorf("count notes to index: %w", err)
	}
	return n, nil
}

// indexPending adds every pending note to the full-text index, in one
// transaction.
func indexPending(ctx context.Context, s *tenant.Store) error {
	if err := s.Tx(ctx, func(tx *sqlx.Tx) error { return indexIn(ctx, tx, s) }); err != nil {
		return fmt.Errorf("index notes: %w", err)
	}
	return nil
}

// indexIn indexes the pending notes within tx and marks them indexed;
// through s's prepared statements when tx is a transaction of s's Tx, and
// with s nil (a copy of a notebook's file) unprepared.
func indexIn(ctx context.Context, tx *sqlx.Tx, s *tenant.Store) error {
	if err := execIn(ctx, tx, s, indexQuery); err != nil {
		return err
	}
	if err := execIn(ctx, tx, s, indexedChangedQuery); err != nil {
		return err
	}
	if err := execIn(ctx, tx, s, indexedNewQuery); err != nil {
		return err
	}
	return execIn(ctx, tx, s, indexedMarkQuery)
}

// execIn runs query in tx: through s's prepared statements when s is not
// nil (see tenant.Store.TxExecContext).
func execIn(ctx context.Context, tx *sqlx.Tx, s *tenant.Store, query string) error {
	var err error
	if s != nil {
		_, err = s.TxExecContext(ctx, tx, query)
	} else {
		_, err = tx.ExecContext(ctx, query)
	}
	return err
}

// indexIfDue indexes the pending notes once indexBatch of them wait (the
// count the write returned: see writeNote). It runs after a write has
// committed, so a failure here must not fail the write (the client would
// write the note again): the notes stay pending, and the next search or
// batch indexes them, or reports why it cannot.
func indexIfDue(ctx context.Context, s *tenant.Store, pending int) {
	if pending >= indexBatch {
		indexPending(ctx, s) //nolint:errcheck // see above
	}
}

// indexForSearch indexes whatever is pending before a search.
func indexForSearch(ctx context.Context, s *tenant.Store) error {
	n, err := pendingNotes(ctx, s)
	if err != nil || n == 0 {
		return err
	}
	return indexPending(ctx, s)
}

// When the disk is too full for a batch of the index (tenant.ErrFull), a
// search still answers, exactly: every note not pending is in the index
// with its current words, so the index answers for those, and the pending
// notes are put in a temporary full-text index in memory (the same
// tokenizer), which answers for them; nothing is written to the file.
const (
	pendingFTS = "CREATE VIRTUAL TABLE temp.pending_fts USING fts5 (" +
		"title, body, tokenize = 'unicode61 remove_diacritics 2')"
	pendingFill    = "INSERT INTO temp.pending_fts (rowid, title, body) SELECT id, title, body FROM pending_notes"
	pendingDrop    = "DROP TABLE temp.pending_fts"
	tempInMemory   = "PRAGMA temp_store = MEMORY"
	unindexedMatch = "(id IN (SELECT rowid FROM notes_fts WHERE notes_fts MATCH ?1)" +
		" OR id IN (SELECT rowid FROM temp.pending_fts WHERE pending_fts MATCH ?1))"
	searchUnindexedQuery = "SELECT " + columns + " FROM notes WHERE " + unindexedMatch +
		" ORDER BY id DESC LIMIT ?2"
	searchUnindexedAfterQuery = "SELECT " + columns + " FROM notes WHERE " + unindexedMatch +
		" AND id < ?2 ORDER BY id DESC LIMIT ?3"
	searchUnindexedV1AfterQuery = "SELECT " + columns + " FROM notes WHERE " + unindexedMatch +
		" AND (created_at, id) < (?2, ?3) ORDER BY created_at DESC, id DESC LIMIT ?4"
)

// searchUnindexed runs query, one of the searchUnindexed queries above
// (args as its own; size rows expected), with the pending notes in a
// temporary index, in one transaction on the handle's own connection (the
// temporary table is that connection's), which drops it. The transaction
// writes nothing to the file: its commit has nothing to write.
func searchUnindexed(ctx context.Context, s *tenant.Store, query string, args []any, size int) ([]Note, error) {
	var out []Note
	err := s.Tx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, tempInMemory); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, pendingFTS); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, pendingFill); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, query, args...)
		if err != nil {
			return err
		}
		if out, err = scanNotes(rows, size); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, pendingDrop)
		return err
	})
	return out, err
}

// IndexCopy indexes the pending notes of a copy of a notebook's file (an
// export), so that the copy's full-text index is complete for any SQLite
// reader, which knows nothing of pending notes.
func IndexCopy(ctx context.Context, db *sqlx.DB) error {
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("index the copy's notes: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if err := indexIn(ctx, tx, nil); err != nil {
		return fmt.Errorf("index the copy's notes: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("index the copy's notes: %w", err)
	}
	return nil
}

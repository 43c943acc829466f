package router

import (
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/cubbyhq/cubby/auth"
	"github.com/cubbyhq/cubby/notes"
	"github.com/jmoiron/sqlx"
)

// export streams a scrubbed copy of the signed-in user's database file, for
// the API and the account page alike. The user's handle is held only while
// the snapshot is taken; the copy, an unlinked temp file, is streamed
// after, with a write deadline that grows with its size, so a slow client
// neither holds the handle nor stalls forever.
func (a *App) export(w http.ResponseWriter, r *http.Request) {
	name, f, err := a.snapshot(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		a.fail(w, r, fmt.Errorf("stat export: %w", err))
		return
	}
	setAttachment(w.Header(), "cubby-"+name+"-"+time.Now().UTC().Format("20060102")+".sqlite", fi.Size())
	infoOf(r).writeExtra = writeTimeFor(fi.Size())
	w.WriteHeader(http.StatusOK)
	if _, err := io.Copy(w, f); err != nil {
		a.log.WarnContext(r.Context(), "export cut short", "tenant", infoOf(r).tenant, "err", err)
	}
}

// setAttachment describes an SQLite file of size bytes that the browser
// saves as filename.
func setAttachment(h http.Header, filename string, size int64) {
	h.Set("Content-Type", "application/vnd.sqlite3")
	h.Set("Content-Length", strconv.FormatInt(size, 10))
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": filename}))
}

// exportMinRate is the slowest download, in bytes per second, an export
// waits for before its write deadline cuts it off.
const exportMinRate = 64 << 10

// writeTimeFor is the write time an answer of size bytes gets beyond
// Config.WriteTimeout: enough to send it at exportMinRate.
func writeTimeFor(size int64) time.Duration {
	return time.Duration(size/exportMinRate+1) * time.Second
}

// snapshot returns the signed-in user's name and a scrubbed copy of their
// file, holding their handle only while it takes them.
func (a *App) snapshot(r *http.Request) (string, *os.File, error) {
	id := infoOf(r).tenant
	s, release, err := a.pool.Acquire(r.Context(), id)
	if err != nil {
		return "", nil, a.endDeadSession(r, err)
	}
	defer release()
	name, err := auth.Username(r.Context(), s)
	if err != nil {
		return "", nil, err
	}
	f, err := a.pool.Export(r.Context(), id, scrubExport)
	if err != nil {
		return "", nil, err
	}
	return name, f, nil
}

// scrubExport is what an export's copy goes through before the user gets
// it: the password hash blanked, and the notes waiting for the search index
// indexed, so that the file is complete for any SQLite reader.
func scrubExport(ctx context.Context, db *sqlx.DB) error {
	if err := auth.ScrubExport(ctx, db); err != nil {
		return err
	}
	return notes.IndexCopy(ctx, db)
}

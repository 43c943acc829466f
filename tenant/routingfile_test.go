package tenant

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// openHeldDirectory opens a routing directory with a row in it and its
// connections held open, so that the next one must be opened afresh.
func openHeldDirectory(t *testing.T) (*Directory, string, func() (*sql.Conn, error)) {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), RoutingFile)
	d, err := OpenDirectory(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if _, err := d.Create(ctx, newID(), "alice"); err != nil {
		t.Fatal(err)
	}
	var held []*sql.Conn
	t.Cleanup(func() {
		for _, c := range held {
			c.Close()
		}
	})
	next := func() (*sql.Conn, error) {
		c, err := d.DB().Conn(ctx)
		if err == nil {
			held = append(held, c)
		}
		return c, err
	}
	if _, err := next(); err != nil { // the connection the row went through
		t.Fatal(err)
	}
	return d, path, next
}

// A routing.db removed or replaced under a running server is reported,
// never split from or made anew: readiness fails, writes are refused, and
// no connection opens the file now at the path or makes an empty one (the
// bug: a connection opened after the data directory was removed made an
// empty routing.db and answered every lookup with "no such table", a 500).
func TestARoutingDBThatLeftItsPathIsUnavailable(t *testing.T) {
	for _, how := range []string{"removed", "replaced"} {
		t.Run(how, func(t *testing.T) {
			ctx := context.Background()
			d, path, next := openHeldDirectory(t)
			for _, suffix := range []string{"", "-wal", "-shm"} {
				if err := os.Remove(path + suffix); err != nil && !os.IsNotExist(err) {
					t.Fatal(err)
				}
			}
			if how == "replaced" {
				other, err := OpenDirectory(ctx, path) // another routing.db, put in its place
				if err != nil {
					t.Fatal(err)
				}
				other.Close()
			}
			if err := d.Ping(ctx); !errors.Is(err, ErrUnavailable) {
				t.Errorf("Ping: %v; want ErrUnavailable", err)
			}
			if _, err := d.Create(ctx, newID(), "bob"); !errors.Is(err, ErrUnavailable) {
				t.Errorf("Create: %v; want ErrUnavailable", err)
			}
			if err := d.Remove(ctx, "x"); !errors.Is(err, ErrUnavailable) {
				t.Errorf("Remove: %v; want ErrUnavailable", err)
			}
			if _, err := next(); !errors.Is(err, ErrUnavailable) {
				t.Errorf("a new connection: %v; want ErrUnavailable", err)
			}
			_, err := os.Stat(path)
			if how == "removed" && !os.IsNotExist(err) {
				t.Errorf("a routing.db was made at the path: %v", err)
			}
		})
	}
}

// The file found at start serves as many connections as requests need.
func TestARoutingDBInPlaceOpensMoreConnections(t *testing.T) {
	d, _, next := openHeldDirectory(t)
	for range 3 {
		if _, err := next(); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Lookup(context.Background(), "alice"); err != nil {
		t.Fatal(err)
	}
}

package tenant

import (
	"context"
	"database/sql/driver"
	"fmt"
	"os"

	"modernc.org/sqlite"
)

// routingFile is routing.db as OpenDirectory found it: the file every
// connection must open, and every write must reach.
//
// An operator who removes or replaces the data directory under a running
// server would otherwise split the routing directory in two: the
// connections already open keep the old file (removed, or moved aside),
// while a new one, opened when requests outgrow them, would find the new
// file, or make an empty one and answer every lookup with "no such table".
// Instead, a connection is only ever opened on the file found at start
// (never created), and a write is refused once the path no longer names
// it: both are ErrUnavailable, until the server is restarted.
type routingFile struct {
	path string
	info os.FileInfo
}

// check reports, as ErrUnavailable, a routing.db that left its path.
func (f *routingFile) check() error {
	if f == nil {
		return nil
	}
	info, err := os.Stat(f.path)
	if err == nil && os.SameFile(info, f.info) {
		return nil
	}
	return fmt.Errorf("%w: routing database %s was removed or replaced while the server ran; restart the server once it is back in place",
		ErrUnavailable, f.path)
}

// routingConnector opens routing.db connections with the driver, checking
// that each opened the file OpenDirectory found.
type routingConnector struct {
	dsn  string
	file *routingFile
}

func (c *routingConnector) Connect(context.Context) (driver.Conn, error) {
	conn, err := c.Driver().Open(c.dsn)
	if err != nil {
		if cerr := c.file.check(); cerr != nil {
			return nil, cerr
		}
		return nil, err
	}
	if err := c.file.check(); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

func (c *routingConnector) Driver() driver.Driver { return &sqlite.Driver{} }

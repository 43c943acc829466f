package tenant

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"

	"github.com/jmoiron/sqlx"
	"modernc.org/sqlite"
)

// connector opens tenant connections and sets each one up before use.
type connector struct {
	driver.Connector
}

// Connect opens a connection that cannot ATTACH another database file, so
// no statement run on a tenant's handle can reach a file but its own.
func (c connector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	ar, ok := conn.(sqlite.AuthorizerRegisterer)
	if !ok {
		conn.Close()
		return nil, fmt.Errorf("sqlite driver offers no authorizer (%T)", conn)
	}
	if err := ar.RegisterAuthorizer(denyAttach); err != nil {
		conn.Close()
		return nil, fmt.Errorf("install authorizer: %w", err)
	}
	if fc, ok := conn.(sqlite.FileControl); ok {
		if _, err := fc.FileControlPersistWAL("main", 1); err != nil {
			conn.Close()
			return nil, fmt.Errorf("persist wal: %w", err)
		}
	}
	return conn, nil
}

func denyAttach(action sqlite.AuthorizerActionCode, _, _, _, _ string) sqlite.AuthorizerReturnCode {
	if action == sqlite.AuthAttach || action == sqlite.AuthDetach {
		return sqlite.AuthorizerDeny
	}
	return sqlite.AuthorizerOK
}

// openTenantDB opens dsn through the tenant connector.
func openTenantDB(dsn string) (*sqlx.DB, error) {
	base, err := sqlite.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	return sqlx.NewDb(sql.OpenDB(connector{base}), "sqlite"), nil
}

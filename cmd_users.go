package main

// cubby users: list the users, sorted by name, as a table or JSON. It
// only reads, so it runs beside a live server.

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/cubbyhq/cubby/tenant"
	"github.com/cubbyhq/cubby/web"
)

// usersPage is how many routing rows users reads at a time, so that its
// memory stays flat however many tenants there are.
const usersPage = 1000

// userRow is one user as cubby users shows it.
type userRow struct {
	Username      string       `json:"username"`
	ID            string       `json:"id"`
	State         tenant.State `json:"state"`
	SchemaVersion int          `json:"schema_version"`
	// SizeBytes is the file plus its WAL; null when there is no file.
	SizeBytes *int64    `json:"size_bytes"`
	CreatedAt time.Time `json:"created_at"`
	// Error is why the tenant's last migration failed.
	Error string `json:"error,omitempty"`
	// Owner is the node that holds the tenant now (users --cluster only).
	Owner string `json:"owner,omitempty"`
}

// usersOptions are the flags of users.
type usersOptions struct {
	data, cluster string
	asJSON        bool
}

func defineUsers(fs *flag.FlagSet, stdout, _ io.Writer) runFunc {
	var o usersOptions
	dataFlag(fs, &o.data)
	fs.BoolVar(&o.asJSON, "json", false, "print one JSON array (sizes in bytes) instead of a table")
	fs.StringVar(&o.cluster, "cluster", envOr("CUBBY_CLUSTER", ""),
		"list the users of the cluster at etcd://HOST:PORT[,…] with their owner node, instead of --data's (env CUBBY_CLUSTER)")
	return func(ctx context.Context, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		if o.cluster != "" {
			return clusterUsers(ctx, o, stdout)
		}
		return users(ctx, o, stdout)
	}
}

// users lists every tenant, sorted by username. It opens routing.db
// read-only and only stats the tenant files, so it runs beside a server.
//
// Both formats are streamed a page at a time. That is why the table has
// fixed column widths and the username, the one column of varying width,
// last: text/tabwriter would have to hold every row to align them.
func users(ctx context.Context, o usersOptions, stdout io.Writer) (err error) {
	dd, err := openReader(ctx, o.data)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, dd.Close()) }()
	d, err := dd.Routing(ctx)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(stdout)
	if o.asJSON {
		err = writeUsersJSON(ctx, w, d, o.data, usersPage)
	} else {
		err = writeUsersTable(ctx, w, d, o.data, usersPage)
	}
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	return err
}

// usersRowFormat lays out a row of the table; every column but the last has
// a bounded width (ids are 32 hex digits, states at most 12 letters).
const usersRowFormat = "%-32s  %-12s  %6s  %10s  %-20s  %s\n"

// writeUsersTable writes the users as an aligned table.
func writeUsersTable(ctx context.Context, w io.Writer, d *tenant.Directory, dataDir string, pageSize int) error {
	fmt.Fprintf(w, usersRowFormat, "ID", "STATE", "SCHEMA", "SIZE", "CREATED", "USERNAME")
	return eachUser(ctx, d, dataDir, pageSize, func(u userRow) error {
		size := "-"
		if u.SizeBytes != nil {
			size = web.HumanBytes(*u.SizeBytes)
		}
		_, err := fmt.Fprintf(w, usersRowFormat, u.ID, u.State, fmt.Sprint(u.SchemaVersion), size,
			u.CreatedAt.Format(time.RFC3339), showName(u.Username))
		return err
	})
}

// showName is username as a table or a list of lines about many users
// shows it: bare, like the lines tenant.Check and cluster's audit write,
// when it reads unambiguously (printable, no space, quote or backslash, as
// signup admits), else quoted, so that a hand-edited routing.db or etcd
// record cannot forge or split a line.
func showName(username string) string {
	q := strconv.Quote(username)
	if username == "" || strings.ContainsAny(username, ` "`) || q[1:len(q)-1] != username {
		return q
	}
	return username
}

// writeUsersJSON writes the users as one JSON array, an element per line.
func writeUsersJSON(ctx context.Context, w io.Writer, d *tenant.Directory, dataDir string, pageSize int) error {
	return writeJSONRows(w, func(row func(userRow) error) error { return eachUser(ctx, d, dataDir, pageSize, row) })
}

// eachUser calls fn for every tenant of d in username order, reading
// pageSize rows at a time.
func eachUser(ctx context.Context, d *tenant.Directory, dataDir string, pageSize int, fn func(userRow) error) error {
	return d.Walk(ctx, pageSize, func(t tenant.Tenant) error {
		u := userRow{
			Username: t.Username, ID: t.ID, State: t.State, SchemaVersion: t.SchemaVersion,
			CreatedAt: t.CreatedAt.UTC(), Error: t.Error,
		}
		// A file that cannot be stated (none yet, or gone) shows no size;
		// cubby check is the tool that says what is wrong with it.
		if n, err := tenant.TenantSize(dataDir, t.ID); err == nil {
			u.SizeBytes = &n
		}
		return fn(u)
	})
}

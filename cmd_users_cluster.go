package main

// cubby users --cluster: the users of a cluster, read from etcd.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/cubbyhq/cubby/cluster"
)

// clusterUsersFormat lays out a row of users --cluster: the owner node
// (at most 64 characters, usually short) in place of the size, which only
// the owner's disk knows.
const clusterUsersFormat = "%-32s  %-12s  %6s  %-16s  %-20s  %s\n"

// openClusterAdmin connects to the cluster at url (etcd://HOST:PORT,…) as
// an operator: no lease, nothing registered. A malformed url is a usage
// error.
func openClusterAdmin(ctx context.Context, url string) (*cluster.Admin, error) {
	eps, err := cluster.ParseURL(url)
	if err != nil {
		return nil, &usageError{"--cluster: " + err.Error()}
	}
	return cluster.OpenAdmin(ctx, eps, "", 0)
}

// clusterUsers lists the users of the cluster at o.cluster, a page at a
// time, with the node that owns each now ("-" for none). It takes no lease
// and registers nothing, so it runs beside the nodes.
func clusterUsers(ctx context.Context, o usersOptions, stdout io.Writer) (err error) {
	a, err := openClusterAdmin(ctx, o.cluster)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, a.Close()) }()
	owners, err := a.Owners(ctx)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(stdout)
	if o.asJSON {
		err = writeJSONRows(w, func(row func(userRow) error) error { return eachClusterUser(ctx, a, owners, usersPage, row) })
	} else {
		fmt.Fprintf(w, clusterUsersFormat, "ID", "STATE", "SCHEMA", "OWNER", "CREATED", "USERNAME")
		err = eachClusterUser(ctx, a, owners, usersPage, func(u userRow) error {
			owner := u.Owner
			if owner == "" {
				owner = "-"
			}
			_, err := fmt.Fprintf(w, clusterUsersFormat, u.ID, u.State, fmt.Sprint(u.SchemaVersion), owner,
				u.CreatedAt.Format(time.RFC3339), showName(u.Username))
			return err
		})
	}
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	return err
}

// eachClusterUser calls fn for every user of the cluster in username
// order, reading pageSize at a time.
func eachClusterUser(ctx context.Context, a *cluster.Admin, owners map[string]string, pageSize int, fn func(userRow) error) error {
	after := ""
	for {
		ts, err := a.List(ctx, after, pageSize)
		if err != nil {
			return err
		}
		for _, t := range ts {
			u := userRow{Username: t.Username, ID: t.ID, State: t.State, SchemaVersion: t.SchemaVersion,
				CreatedAt: t.CreatedAt.UTC(), Error: t.Error, Owner: owners[t.ID]}
			if err := fn(u); err != nil {
				return err
			}
		}
		if len(ts) < pageSize {
			return nil
		}
		after = ts[len(ts)-1].Username
	}
}

// writeJSONRows writes the rows each gives as one JSON array, an element
// per line.
func writeJSONRows(w io.Writer, each func(row func(userRow) error) error) error {
	sep := "[\n"
	err := each(func(u userRow) error {
		b, err := json.Marshal(u)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s%s", sep, b)
		sep = ",\n"
		return err
	})
	if err != nil {
		return err
	}
	end := "\n]\n"
	if sep == "[\n" {
		end = "[]\n"
	}
	_, err = io.WriteString(w, end)
	return err
}

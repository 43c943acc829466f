package main

// cubby delete-user NAME: delete an account as the app does (its file, its
// routing row and every session). It writes, so it takes the lock.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/cubbyhq/cubby/tenant"
)

func defineDeleteUser(fs *flag.FlagSet, stdout, stderr io.Writer) runFunc {
	var data, replicateTo, clusterURL string
	dataFlag(fs, &data)
	replicateFlag(fs, &replicateTo)
	fs.StringVar(&clusterURL, "cluster", envOr("CUBBY_CLUSTER", ""),
		"delete the user from the cluster at etcd://HOST:PORT[,…] instead of --data's; needs --replicate-to (env CUBBY_CLUSTER)")
	return func(ctx context.Context, args []string) error {
		if len(args) != 1 {
			return &usageError{"want exactly one NAME"}
		}
		if strings.TrimSpace(args[0]) == "" {
			return &usageError{"NAME must not be empty"}
		}
		if clusterURL != "" {
			return deleteClusterUser(ctx, clusterURL, replicateTo, args[0], stdout, stderr)
		}
		return deleteUser(ctx, data, replicateTo, args[0], stdout, stderr)
	}
}

// deleteUser removes the account of user name as deleting it in the app
// does: the tenant's file, its routing row and every session, and with
// replication its replica.
func deleteUser(ctx context.Context, data, replicateTo, name string, stdout, stderr io.Writer) (err error) {
	d, err := openWriter(ctx, data, commandLog(stderr), replicateTo)
	if err != nil {
		return err
	}
	defer d.Done(&err)
	t, err := d.Routing().Lookup(ctx, name)
	if errors.Is(err, tenant.ErrNotFound) {
		return fmt.Errorf("no user %q", name)
	}
	if err != nil {
		return err
	}
	if err := d.Accounts().Remove(ctx, t.ID); err != nil {
		return fmt.Errorf("delete %q: %w", t.Username, err)
	}
	fmt.Fprintf(stdout, "deleted user %q (tenant %s): file, routing row and sessions\n", t.Username, t.ID)
	return nil
}

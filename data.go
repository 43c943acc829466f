package main

// How the commands open the data directory: all through package datadir,
// with the per-tenant schema embedded here.

import (
	"context"
	_ "embed"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/cubbyhq/cubby/auth"
	"github.com/cubbyhq/cubby/datadir"
	"github.com/cubbyhq/cubby/replica"
	"github.com/cubbyhq/cubby/tenant"
)

// schemaSQL is the per-tenant schema, as ordered migrations.
//
//go:embed schema.sql
var schemaSQL string

// migrations parses the embedded per-tenant schema.
func migrations() ([]tenant.Migration, error) {
	ms, err := tenant.ParseMigrations(schemaSQL)
	if err != nil {
		return nil, fmt.Errorf("schema.sql: %w", err)
	}
	return ms, nil
}

// openWriter opens the existing data directory path for a command that
// writes (migrate, delete-user), under its lock. End the command with
// d.Done(&err). Unlike serve's, its session store never sweeps expired
// rows, and it hashes no passwords, so the hasher's cost never matters.
func openWriter(ctx context.Context, path string, log *slog.Logger, replicateTo string) (*datadir.DataDir, error) {
	ms, err := migrations()
	if err != nil {
		return nil, err
	}
	return datadir.Open(ctx, path, datadir.Options{
		Migrations: ms,
		Logger:     log,
		Sessions:   auth.SessionStoreConfig{CleanupInterval: -1},
		Hasher:     auth.NewHasher(auth.DefaultParams(), 1),
		Replicate:  replica.Config{URL: replicateTo},
	})
}

// replicateFlag defines --replicate-to, for serve and the commands that
// write (their changes are replicated, and a deleted user's replica goes).
func replicateFlag(fs *flag.FlagSet, p *string) {
	fs.StringVar(p, "replicate-to", envOr("CUBBY_REPLICATE_TO", ""),
		"replicate routing.db and every open tenant to s3://BUCKET/PREFIX?endpoint=URL&region=R&forcePathStyle=true, "+
			"credentials from AWS_*; restores missing files from it (env CUBBY_REPLICATE_TO)")
}

// openReader opens the existing data directory path for a command that
// runs beside a live server (users, check, backup).
func openReader(ctx context.Context, path string) (*datadir.ReadOnly, error) {
	ms, err := migrations()
	if err != nil {
		return nil, err
	}
	return datadir.OpenReadOnly(ctx, path, datadir.Options{Migrations: ms})
}

// commandLog is the logger of a command other than serve: warnings and
// errors only, as text on stderr.
func commandLog(stderr io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

package tenant

import "errors"

var (
	// ErrNotFound means no tenant has that id or username.
	ErrNotFound = errors.New("tenant: not found")
	// ErrExists means the username is already taken.
	ErrExists = errors.New("tenant: username already exists")
	// ErrUnavailable means the tenant exists but its file cannot be served:
	// it is missing, corrupt, newer than this binary or failed a migration.
	ErrUnavailable = errors.New("tenant: unavailable")
	// ErrBusy means the process is out of a resource it needs to serve the
	// tenant right now (file descriptors); trying again shortly may work.
	ErrBusy = errors.New("tenant: busy")
	// ErrFull means a tenant's file could not grow: the disk, or a limit
	// on the file's size, is full. SQLite rolled the statement back, so
	// nothing of it was written; it may work once space is freed.
	ErrFull = errors.New("tenant: out of storage")
	// ErrRoutingLost means routing.db is missing or empty beside tenant
	// files: it was lost, and making a new one would orphan every tenant.
	ErrRoutingLost = errors.New("tenant: routing.db lost")
	// ErrClosed means the pool or directory has been closed.
	ErrClosed = errors.New("tenant: closed")
	// ErrNotEmpty means a backup or restore target already holds files.
	ErrNotEmpty = errors.New("tenant: folder not empty")
	// ErrIncomplete means a backup finished but could not copy some tenants.
	ErrIncomplete = errors.New("tenant: backup incomplete")
	// ErrBadBackup means a backup is unfinished, damaged or not a backup.
	ErrBadBackup = errors.New("tenant: bad backup")
)

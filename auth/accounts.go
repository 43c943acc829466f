package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/cubbyhq/cubby/tenant"
)

var (
	// ErrUsernameTaken means another account already has that username, in
	// any letter case.
	ErrUsernameTaken = errors.New("that username is taken")
	// ErrInvalidCredentials is every failed login or re-authentication:
	// unknown user, malformed name, wrong password. They are not told apart.
	ErrInvalidCredentials = errors.New("wrong username or password")
	// ErrSignupClosed means the server does not accept new accounts.
	ErrSignupClosed = errors.New("signup is closed on this server")
	// ErrBusy means too many passwords are waiting to be checked; the
	// request was refused before any hashing and may be tried again shortly.
	ErrBusy = errors.New("the server is busy checking passwords; try again in a moment")
)

// ThrottledError means a login or signup was refused before any hashing:
// too many logins failed recently (for that pair, client address or
// username), or too many accounts were made from that client address.
type ThrottledError struct {
	RetryAfter time.Duration // how long until an attempt may go ahead
	Signup     bool          // the signup limit, not failed logins
}

// Error says what was refused and how long to wait.
func (e *ThrottledError) Error() string {
	what := "too many failed attempts"
	if e.Signup {
		what = "too many accounts made from your address"
	}
	return fmt.Sprintf("%s; try again in %s", what, e.RetryAfter.Round(time.Second))
}

// AccountsConfig is what Accounts works with. Pool, Hasher, Throttle and
// Sessions are required.
type AccountsConfig struct {
	Pool     *tenant.Pool
	Hasher   *Hasher
	Throttle *Throttle
	// Sessions are ended for every device when an account is removed.
	Sessions SessionBackend
	// SignupClosed makes Signup refuse with ErrSignupClosed.
	SignupClosed bool
	// SignupLimit is how many accounts one client address may make per
	// SignupWindow; past it Signup refuses with a *ThrottledError. Zero
	// means no limit.
	SignupLimit int
	// SignupWindow is the window of SignupLimit; one hour.
	SignupWindow time.Duration
	// Counter, if set, keeps the signup limit's counts where every node of
	// a cluster shares them; nil counts in memory.
	Counter Counter
	// Now is the clock of the signup limit; time.Now.
	Now func() time.Time
	// DeleteWait is how long Delete waits for the account's other requests
	// to let go of its file before it gives up with ErrBusy, leaving the
	// account as it was; DefaultDeleteWait.
	DeleteWait time.Duration
	// Logger receives cleanup failures that do not fail the caller
	// (default slog.Default()).
	Logger *slog.Logger
}

// Accounts signs people up, logs them in, re-authenticates them and deletes
// their accounts. An account is a tenant whose own file holds the account
// row (username and argon2id hash); routing.db holds no password.
type Accounts struct {
	cfg     AccountsConfig
	signups *signupLimit // nil: no limit
}

// NewAccounts returns Accounts over cfg.
// DefaultDeleteWait is AccountsConfig.DeleteWait's default.
const DefaultDeleteWait = 10 * time.Second

func NewAccounts(cfg AccountsConfig) *Accounts {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.SignupWindow <= 0 {
		cfg.SignupWindow = time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.DeleteWait <= 0 {
		cfg.DeleteWait = DefaultDeleteWait
	}
	a := &Accounts{cfg: cfg}
	if cfg.SignupLimit > 0 {
		a.signups = newSignupLimit(cfg.SignupLimit, cfg.SignupWindow, cfg.Now, cfg.Counter)
	}
	return a
}

// SignupOpen reports whether Signup accepts new accounts.
func (a *Accounts) SignupOpen() bool { return !a.cfg.SignupClosed }

// Signup creates an account for a client at addr: it validates the name and
// password, checks the signup limit of addr (a *ThrottledError), hashes the
// password, and provisions a tenant whose file gets the account row. Of many
// concurrent signups of one name exactly one succeeds; the others get
// ErrUsernameTaken. Only accounts made count against the limit, and a
// signup refused by it costs no hash and makes no file.
func (a *Accounts) Signup(ctx context.Context, username, password, addr string) (tenant.Tenant, error) {
	if a.cfg.SignupClosed {
		return tenant.Tenant{}, ErrSignupClosed
	}
	name, err := ValidateUsername(username)
	if err != nil {
		return tenant.Tenant{}, err
	}
	if err := ValidatePassword(password); err != nil {
		return tenant.Tenant{}, err
	}
	// Counted before the work, so that signups sent at once cannot all pass
	// the limit; taken back unless an account is made.
	if wait, ok, err := a.signups.begin(ctx, addr); err != nil {
		return tenant.Tenant{}, err
	} else if !ok {
		return tenant.Tenant{}, &ThrottledError{RetryAfter: wait, Signup: true}
	}
	t, err := a.signup(ctx, name, password)
	if err != nil {
		a.keep(ctx, "take back a signup", a.signups.undo(ctx, addr))
		return tenant.Tenant{}, err
	}
	return t, nil
}

// signup makes the account of the valid, lower-cased name.
func (a *Accounts) signup(ctx context.Context, name, password string) (tenant.Tenant, error) {
	// A cheap read first, so a taken name costs no hash.
	if _, err := a.cfg.Pool.Routing().Lookup(ctx, name); err == nil {
		return tenant.Tenant{}, ErrUsernameTaken
	} else if !errors.Is(err, tenant.ErrNotFound) {
		return tenant.Tenant{}, err
	}
	hash, err := a.cfg.Hasher.Hash(ctx, password)
	if err != nil {
		return tenant.Tenant{}, err
	}
	t, err := a.cfg.Pool.Provision(ctx, name, func(ctx context.Context, tx *sqlx.Tx, t tenant.Tenant) error {
		_, err := tx.ExecContext(ctx,
			"INSERT INTO account (id, username, password_hash, created_at) VALUES (1, ?, ?, ?)",
			t.Username, hash, t.CreatedAt.UTC().Format(time.RFC3339Nano))
		if err != nil {
			return fmt.Errorf("write account row: %w", err)
		}
		return nil
	})
	if errors.Is(err, tenant.ErrExists) {
		return tenant.Tenant{}, ErrUsernameTaken
	}
	if err != nil {
		return tenant.Tenant{}, fmt.Errorf("provision account: %w", err)
	}
	return t, nil
}

// Login checks a username and password sent from client address addr and
// returns the account's tenant; device says the client holds a valid device
// cookie for username (see Devices). Throttling is checked before any
// hashing (a *ThrottledError). An unknown or malformed username costs one
// dummy hash, like a wrong password, and every such failure is
// ErrInvalidCredentials. A login refused because the hashing queue is full
// (ErrBusy) does not count as a failure.
func (a *Accounts) Login(ctx context.Context, username, password, addr string, device bool) (tenant.Tenant, error) {
	// A login for a user another cluster node owns is passed to that node
	// (the caller forwards a tenant.ErrElsewhere), which counts it: counting
	// it here as well would cost two more etcd transactions, and concurrent
	// guesses right at the limit could be refused one early. Elsewhere reads
	// memory only, so a throttled flood costs nothing more than before.
	if err := a.cfg.Pool.Elsewhere(username); err != nil {
		return tenant.Tenant{}, err
	}
	// Begin counts the attempt as failed before hashing, so that guesses
	// sent at once cannot all pass the throttle before any has failed.
	if wait, ok, err := a.cfg.Throttle.Begin(ctx, username, addr, device); err != nil {
		return tenant.Tenant{}, err
	} else if !ok {
		return tenant.Tenant{}, &ThrottledError{RetryAfter: wait}
	}
	t, ok, err := a.login(ctx, username, password)
	if err != nil {
		a.keep(ctx, "take back a login attempt", a.cfg.Throttle.Undo(ctx, username, addr)) // not a wrong guess
		return tenant.Tenant{}, err
	}
	if !ok {
		return tenant.Tenant{}, ErrInvalidCredentials
	}
	a.keep(ctx, "clear a login's failures", a.cfg.Throttle.Passed(ctx, username, addr))
	return t, nil
}

// keep logs a failure to take back or clear a count, which fails nothing:
// the count only stays higher than it should until its window closes.
func (a *Accounts) keep(ctx context.Context, step string, err error) {
	if err != nil {
		a.cfg.Logger.WarnContext(ctx, step, "err", err)
	}
}

// login verifies the password; ok is false for any wrong credentials.
func (a *Accounts) login(ctx context.Context, username, password string) (tenant.Tenant, bool, error) {
	name, err := ValidateUsername(username)
	if err != nil {
		return tenant.Tenant{}, false, a.cfg.Hasher.Dummy(ctx, password)
	}
	t, err := a.cfg.Pool.Routing().Lookup(ctx, name)
	if errors.Is(err, tenant.ErrNotFound) {
		return tenant.Tenant{}, false, a.cfg.Hasher.Dummy(ctx, password)
	}
	if err != nil {
		return tenant.Tenant{}, false, err
	}
	acct, err := a.account(ctx, t.ID)
	if errors.Is(err, tenant.ErrNotFound) { // still provisioning, or just deleted
		return tenant.Tenant{}, false, a.cfg.Hasher.Dummy(ctx, password)
	}
	if err != nil {
		return tenant.Tenant{}, false, err
	}
	ok, err := a.cfg.Hasher.Verify(ctx, password, acct.PasswordHash)
	if err != nil {
		return tenant.Tenant{}, false, fmt.Errorf("account %s: %w", t.ID, err)
	}
	return t, ok, nil
}

// VerifyFile reports whether the tenant file open in db is t's: whether
// its account row, when it has one, names t's username (see
// tenant.Config.Verify). Another user's file copied to t's path names that
// user, and is refused. A file without the row (a tenant provisioned
// without the accounts, as tests and tools do) says nothing and passes:
// every account's file has one from its signup on. The error names no
// one: it reaches the log.
func VerifyFile(ctx context.Context, db *sqlx.DB, t tenant.Tenant) error {
	var name string
	err := db.GetContext(ctx, &name, "SELECT username FROM account WHERE id = 1")
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return fmt.Errorf("read the account row: %w", err)
	case name != t.Username:
		return errors.New("the file's account row names another user")
	}
	return nil
}

// accountRow is the account table's one row in a tenant's file.
type accountRow struct {
	Username     string `db:"username"`
	PasswordHash string `db:"password_hash"`
}

// account reads the account row of tenant id from its own file.
func (a *Accounts) account(ctx context.Context, id string) (accountRow, error) {
	s, release, err := a.cfg.Pool.Acquire(ctx, id)
	if err != nil {
		return accountRow{}, err
	}
	defer release()
	var r accountRow
	err = s.GetContext(ctx, &r, "SELECT username, password_hash FROM account WHERE id = 1")
	if errors.Is(err, sql.ErrNoRows) {
		return accountRow{}, fmt.Errorf("%w: tenant %s has no account row", tenant.ErrUnavailable, id)
	}
	if err != nil {
		return accountRow{}, fmt.Errorf("read account row: %w", err)
	}
	return r, nil
}

// Delete removes the account of tenant id after checking its password again
// (throttled like a login from addr): the tenant's file and routing row go,
// every session of the tenant ends, and the username is free. A wrong
// password is ErrInvalidCredentials; a tenant that no longer exists is
// tenant.ErrNotFound. The caller must not hold the tenant's Store: Delete
// waits for every holder to release it.
func (a *Accounts) Delete(ctx context.Context, id, password, addr string) error {
	acct, err := a.account(ctx, id)
	if err != nil {
		return err
	}
	// The caller's session for this account vouches for the client at
	// least as well as a device cookie would.
	if wait, ok, err := a.cfg.Throttle.Begin(ctx, acct.Username, addr, true); err != nil {
		return err
	} else if !ok {
		return &ThrottledError{RetryAfter: wait}
	}
	ok, err := a.cfg.Hasher.Verify(ctx, password, acct.PasswordHash)
	if err != nil || ok {
		a.keep(ctx, "take back a password check", a.cfg.Throttle.Undo(ctx, acct.Username, addr)) // not a wrong guess
	}
	if err != nil {
		return fmt.Errorf("account %s: %w", id, err)
	}
	if !ok {
		return ErrInvalidCredentials
	}
	// If the wait for other requests to let go of the tenant runs out,
	// Remove gives up and leaves the account as it was; past that, it
	// finishes.
	wctx, cancel := context.WithTimeout(ctx, a.cfg.DeleteWait)
	defer cancel()
	err = a.Remove(wctx, id)
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		return fmt.Errorf("%w: account %s is in use: %w", ErrBusy, id, err)
	}
	return err
}

// Remove deletes the account of tenant id without asking for its password,
// for operators: file, routing row and every session. If ctx ends while
// others hold the tenant's file, it returns ctx's error and changes nothing
// (see tenant.Pool.Delete).
func (a *Accounts) Remove(ctx context.Context, id string) error {
	if err := a.cfg.Pool.Delete(ctx, id); err != nil {
		return err
	}
	ctx = context.WithoutCancel(ctx) // the tenant is gone: finish the cleanup
	// The tenant is gone, so its sessions already count as signed out;
	// removing them is cleanup, and failing at it does not fail the delete.
	if _, err := a.cfg.Sessions.DeleteTenant(ctx, id); err != nil {
		a.cfg.Logger.WarnContext(ctx, "delete sessions of removed account", "tenant", id, "err", err)
	}
	return nil
}

// Profile is what an account page shows about the signed-in person.
type Profile struct {
	Username      string    `json:"username"`
	CreatedAt     time.Time `json:"created_at"`
	SchemaVersion int       `json:"schema_version"`
	SizeBytes     int64     `json:"size_bytes"`
}

// Profile describes the account whose store s is: name, creation time and
// schema version from the routing row, size from the file and its WAL.
func (a *Accounts) Profile(ctx context.Context, s *tenant.Store) (Profile, error) {
	t, err := a.cfg.Pool.Routing().Get(ctx, s.TenantID())
	if err != nil {
		return Profile{}, err
	}
	size, err := s.SizeBytes()
	if err != nil {
		return Profile{}, err
	}
	return Profile{Username: t.Username, CreatedAt: t.CreatedAt.UTC(), SchemaVersion: t.SchemaVersion, SizeBytes: size}, nil
}

// Username reads the account's username from its own file, without touching
// routing.db.
func Username(ctx context.Context, s *tenant.Store) (string, error) {
	var name string
	err := s.GetContext(ctx, &name, "SELECT username FROM account WHERE id = 1")
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("%w: tenant %s has no account row", tenant.ErrUnavailable, s.TenantID())
	}
	if err != nil {
		return "", fmt.Errorf("read username: %w", err)
	}
	return name, nil
}

// ScrubExport blanks the password hash in a copy of a tenant's file. It is
// the tenant.ScrubFunc for exports.
func ScrubExport(ctx context.Context, db *sqlx.DB) error {
	if _, err := db.ExecContext(ctx, "UPDATE account SET password_hash = ''"); err != nil {
		return fmt.Errorf("blank password hash: %w", err)
	}
	return nil
}

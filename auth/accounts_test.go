package auth

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/cubbyhq/cubby/tenant"
	"github.com/cubbyhq/cubby/tenant/tenanttest"
)

// accountsRig is Accounts over a fresh pool, with a hasher that counts the
// keys it derives.
type accountsRig struct {
	*Accounts
	pool     *tenant.Pool
	dir      string // the data directory
	sessions *SessionStore
	derived  *atomic.Int64
}

func newAccountsRig(t *testing.T, closed bool) *accountsRig {
	t.Helper()
	return newAccountsRigWith(t, func(c *AccountsConfig) { c.SignupClosed = closed })
}

// newAccountsRigWith is newAccountsRig with its config changed by edit.
func newAccountsRigWith(t *testing.T, edit func(*AccountsConfig)) *accountsRig {
	t.Helper()
	dir := t.TempDir()
	pool := tenanttest.New(t, tenant.Config{Dir: dir, Migrations: tenanttest.Migrations(t, "../schema.sql")})
	db := pool.Directory().DB()
	if err := CreateSessionTable(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	store := NewSessionStore(db, SessionStoreConfig{CleanupInterval: -1})
	t.Cleanup(func() { store.Close() })
	h := NewHasher(testParams(), 4)
	var derived atomic.Int64
	h.derive = func(pw, salt []byte, p Params) []byte {
		derived.Add(1)
		return deriveArgon2id(pw, salt, p)
	}
	cfg := AccountsConfig{Pool: pool, Hasher: h, Throttle: NewThrottle(ThrottleConfig{}), Sessions: store}
	edit(&cfg)
	a := NewAccounts(cfg)
	return &accountsRig{Accounts: a, pool: pool, dir: dir, sessions: store, derived: &derived}
}

func (r *accountsRig) mustSignup(t *testing.T, name, password string) tenant.Tenant {
	t.Helper()
	tn, err := r.Signup(context.Background(), name, password, "192.0.2.1")
	if err != nil {
		t.Fatalf("signup %s: %v", name, err)
	}
	return tn
}

func TestSignupWritesAccountRowIntoOwnFile(t *testing.T) {
	r := newAccountsRig(t, false)
	tn := r.mustSignup(t, "Alice", "correct horse")
	if tn.Username != "alice" || tn.State != tenant.StateActive {
		t.Fatalf("tenant %+v", tn)
	}
	acct, err := r.account(context.Background(), tn.ID)
	if err != nil {
		t.Fatal(err)
	}
	if acct.Username != "alice" || !strings.HasPrefix(acct.PasswordHash, "$argon2id$v=19$") {
		t.Fatalf("account row %+v", acct)
	}
	var n int
	if err := r.pool.Directory().DB().QueryRow(
		"SELECT count(*) FROM tenants WHERE username = 'alice'").Scan(&n); err != nil || n != 1 {
		t.Fatalf("routing rows = %d, %v", n, err)
	}
}

func TestSignupRefusals(t *testing.T) {
	r := newAccountsRig(t, false)
	r.mustSignup(t, "alice", "correct horse")
	cases := []struct {
		name, user, pass string
		want             error
	}{
		{"taken", "alice", "another password", ErrUsernameTaken},
		{"taken other case", "ALICE", "another password", ErrUsernameTaken},
		{"short name", "al", "correct horse", ErrInvalidUsername},
		{"kelvin sign", "\u212Aelvin", "correct horse", ErrInvalidUsername},
		{"short password", "bob", "short", ErrWeakPassword},
		{"long password", "bob", strings.Repeat("x", 1025), ErrWeakPassword},
	}
	for _, c := range cases {
		before := r.derived.Load()
		if _, err := r.Signup(context.Background(), c.user, c.pass, "192.0.2.1"); !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v; want %v", c.name, err, c.want)
		}
		if r.derived.Load() != before {
			t.Errorf("%s: a refused signup hashed a password", c.name)
		}
	}
}

func TestSignupClosed(t *testing.T) {
	r := newAccountsRig(t, true)
	if _, err := r.Signup(context.Background(), "alice", "correct horse", "192.0.2.1"); !errors.Is(err, ErrSignupClosed) {
		t.Fatalf("err = %v; want ErrSignupClosed", err)
	}
	if r.SignupOpen() {
		t.Fatal("SignupOpen with signup closed")
	}
}

func TestSignupConcurrentOneName(t *testing.T) {
	r := newAccountsRig(t, false)
	var wins, taken atomic.Int64
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			_, err := r.Signup(context.Background(), fmt.Sprintf("Race%s", strings.Repeat("r", i%2)), "password1", "192.0.2.1")
			switch {
			case err == nil:
				wins.Add(1)
			case errors.Is(err, ErrUsernameTaken):
				taken.Add(1)
			default:
				t.Errorf("signup: %v", err)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 2 || taken.Load() != 18 {
		t.Fatalf("wins %d, taken %d; want 2 and 18", wins.Load(), taken.Load())
	}
}

func TestLoginOutcomes(t *testing.T) {
	r := newAccountsRig(t, false)
	alice := r.mustSignup(t, "alice", "correct horse")
	got, err := r.Login(context.Background(), "ALICE", "correct horse", "1.2.3.4", false)
	if err != nil || got.ID != alice.ID {
		t.Fatalf("login = %+v, %v", got, err)
	}
	for _, c := range []struct{ name, user, pass string }{
		{"wrong password", "alice", "wrong horse"},
		{"unknown user", "nobody", "correct horse"},
		{"malformed name", "a b", "correct horse"},
		{"empty", "", ""},
		{"kelvin", "\u212Aelvin", "correct horse"},
	} {
		before := r.derived.Load()
		_, err := r.Login(context.Background(), c.user, c.pass, "1.2.3.4", false)
		if !errors.Is(err, ErrInvalidCredentials) {
			t.Errorf("%s: err = %v; want ErrInvalidCredentials", c.name, err)
		}
		if n := r.derived.Load() - before; n != 1 {
			t.Errorf("%s: derived %d keys; want exactly 1, like a wrong password", c.name, n)
		}
	}
}

func TestLoginThrottledBeforeHashing(t *testing.T) {
	r := newAccountsRig(t, false)
	r.mustSignup(t, "alice", "correct horse")
	for range 10 {
		r.Login(context.Background(), "alice", "wrong horse", "1.2.3.4", false)
	}
	before := r.derived.Load()
	_, err := r.Login(context.Background(), "Alice", "correct horse", "1.2.3.4", false)
	var te *ThrottledError
	if !errors.As(err, &te) || te.RetryAfter <= 0 || te.RetryAfter > 15*time.Minute {
		t.Fatalf("11th login = %v; want a ThrottledError", err)
	}
	if r.derived.Load() != before {
		t.Fatal("a throttled login hashed a password")
	}
}

// Ten wrong passwords from one address lock that address out of the
// account, not the owner logging in from elsewhere.
func TestLoginGuessesFromOneAddressDoNotLockTheOwnerOut(t *testing.T) {
	r := newAccountsRig(t, false)
	alice := r.mustSignup(t, "alice", "correct horse")
	for range 10 {
		r.Login(context.Background(), "alice", "wrong horse", "203.0.113.66", false)
	}
	got, err := r.Login(context.Background(), "alice", "correct horse", "198.51.100.7", false)
	if err != nil || got.ID != alice.ID {
		t.Fatalf("owner's login from another address = %+v, %v; want alice", got, err)
	}
}

func TestLoginSuccessResetsItsPair(t *testing.T) {
	r := newAccountsRig(t, false)
	r.mustSignup(t, "alice", "correct horse")
	for range 9 {
		r.Login(context.Background(), "alice", "wrong horse", "1.2.3.4", false)
	}
	if _, err := r.Login(context.Background(), "alice", "correct horse", "1.2.3.4", false); err != nil {
		t.Fatal(err)
	}
	for range 9 {
		r.Login(context.Background(), "alice", "wrong horse", "1.2.3.4", false)
	}
	if _, err := r.Login(context.Background(), "alice", "correct horse", "1.2.3.4", false); err != nil {
		t.Fatalf("login after reset: %v", err)
	}
}

func TestAccountDeleteNeedsPasswordAndEndsSessions(t *testing.T) {
	r := newAccountsRig(t, false)
	alice := r.mustSignup(t, "alice", "correct horse")
	bob := r.mustSignup(t, "bob", "battery staple")
	deadline := time.Now().Add(time.Hour)
	for i, id := range []string{alice.ID, alice.ID, bob.ID} {
		b, _ := SessionCodec{}.Encode(deadline, map[string]any{SessionTenantKey: id})
		if err := r.sessions.Commit(fmt.Sprint("token", i), b, deadline); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Delete(context.Background(), alice.ID, "wrong horse", "1.2.3.4"); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("delete with wrong password: %v", err)
	}
	if _, err := r.pool.Directory().Get(context.Background(), alice.ID); err != nil {
		t.Fatalf("a refused delete removed the account: %v", err)
	}
	if err := r.Delete(context.Background(), alice.ID, "correct horse", "1.2.3.4"); err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{false, false, true} {
		if _, found, _ := r.sessions.Find(fmt.Sprint("token", i)); found != want {
			t.Errorf("session %d found = %v; want %v", i, found, want)
		}
	}
	if err := r.Delete(context.Background(), alice.ID, "correct horse", "1.2.3.4"); !errors.Is(err, tenant.ErrNotFound) {
		t.Errorf("second delete: %v; want tenant.ErrNotFound", err)
	}
	again := r.mustSignup(t, "alice", "new password")
	if again.ID == alice.ID {
		t.Error("the freed name reused the old tenant id")
	}
}

func TestAccountProfileAndUsername(t *testing.T) {
	r := newAccountsRig(t, false)
	tn := r.mustSignup(t, "Alice", "correct horse")
	s, release, err := r.pool.Acquire(context.Background(), tn.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	p, err := r.Profile(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if p.Username != "alice" || p.SchemaVersion != r.pool.SchemaVersion() || p.SizeBytes <= 0 ||
		p.CreatedAt.IsZero() || !p.CreatedAt.Equal(tn.CreatedAt) {
		t.Fatalf("profile %+v (tenant %+v)", p, tn)
	}
	if name, err := Username(context.Background(), s); err != nil || name != "alice" {
		t.Fatalf("Username = %q, %v", name, err)
	}
}

func TestAccountExportScrubBlanksHash(t *testing.T) {
	r := newAccountsRig(t, false)
	tn := r.mustSignup(t, "alice", "correct horse")
	acct, _ := r.account(context.Background(), tn.ID)
	f, err := r.pool.Export(context.Background(), tn.ID, ScrubExport)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	path := filepath.Join(t.TempDir(), "export.db")
	raw, err := os.ReadFile(f.Name())
	if err == nil {
		t.Fatalf("export file still linked at %s (%d bytes)", f.Name(), len(raw))
	}
	out, _ := os.Create(path)
	if _, err := out.ReadFrom(f); err != nil {
		t.Fatal(err)
	}
	out.Close()
	raw, _ = os.ReadFile(path)
	salt := strings.Split(acct.PasswordHash, "$")[4]
	if strings.Contains(string(raw), salt) {
		t.Fatal("the hash's bytes are still in the export")
	}
	db := sqlx.MustOpen("sqlite", path)
	defer db.Close()
	var hash, name string
	if err := db.QueryRow("SELECT password_hash, username FROM account").Scan(&hash, &name); err != nil {
		t.Fatal(err)
	}
	if hash != "" || name != "alice" {
		t.Fatalf("export account = %q, %q", name, hash)
	}
}

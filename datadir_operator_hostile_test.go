package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cubbyhq/cubby/tenant"
)

// routing.db removed, or emptied (a failed copy, `> routing.db`), while
// tenants/ holds every user's file. Before, serve made a new routing.db and
// its start-up sweep moved every user's file to orphans/: every account gone,
// every name free for anyone to sign up as, exit 0 (by hand: "orphans_moved=2").
// migrate did the same to an empty routing.db and reported "0 failed". Both
// now refuse with a clear message and leave the directory exactly as it was.
func TestServeAndMigrateRefuseARoutingDBLostBesideTenantFiles(t *testing.T) {
	for _, damage := range []string{"removed", "emptied"} {
		t.Run(damage, func(t *testing.T) {
			dir := t.TempDir()
			a := openTestApp(t, dir)
			a.signup("alice")
			a.signup("bob")
			a.close()
			routing := filepath.Join(dir, tenant.RoutingFile)
			for _, s := range []string{"-wal", "-shm"} {
				if err := os.Remove(routing + s); err != nil && !errors.Is(err, os.ErrNotExist) {
					t.Fatal(err)
				}
			}
			if damage == "removed" {
				if err := os.Remove(routing); err != nil {
					t.Fatal(err)
				}
			} else if err := os.Truncate(routing, 0); err != nil {
				t.Fatal(err)
			}
			before := listing(t, dir)

			for _, args := range [][]string{
				{"serve", "--addr", freeAddr(t), "--data", dir, "--signup-limit", "0"},
				{"migrate", "--data", dir},
				{"delete-user", "--data", dir, "alice"},
			} {
				code, stderr := runToRefusal(t, args)
				if code != 1 {
					t.Errorf("%s over a %s routing.db beside 2 tenant files: exit %d; want 1\n%s", args[0], damage, code, stderr)
				}
				// (migrate and delete-user refused a missing routing.db
				// already, as not a data directory.)
				restore := args[0] == "serve" || damage == "emptied"
				if !strings.Contains(stderr, "routing.db") || restore && !strings.Contains(stderr, "restore") {
					t.Errorf("%s: the message does not say routing.db is lost and to restore it:\n%s", args[0], stderr)
				}
				if after := listing(t, dir); !slices.Equal(before, after) {
					t.Fatalf("%s changed the data directory:\nbefore %v\nafter  %v", args[0], before, after)
				}
			}
		})
	}
}

// runToRefusal runs a command and returns its exit code and stderr. A
// serve that starts instead of refusing is stopped once it answers
// /readyz, so that the test sees what its start did to the directory.
func runToRefusal(t *testing.T, args []string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	var stderr syncBuffer
	go func() { done <- run(ctx, args, io.Discard, &stderr) }()
	if args[0] != "serve" {
		return <-done, stderr.String()
	}
	for {
		select {
		case code := <-done:
			return code, stderr.String()
		default:
		}
		if res, err := http.Get("http://" + args[2] + "/readyz"); err == nil {
			res.Body.Close()
			cancel()
			return <-done, stderr.String()
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// A session that cannot be saved at sign-in (routing.db locked by another
// process, full, or failing) must be one clean error. The session is saved
// when the handler starts its answer; a failed save wrote the error answer,
// then the handler's own 200 and body went on after it: by hand, with
// routing.db held by another process's BEGIN IMMEDIATE, POST /login
// answered 500 with the body `{"error":{"code":"internal",…}}{"username":"user1"}`
// and the log said "http: superfluous response.WriteHeader call". Here the
// save fails at once: a trigger on the session table refuses every insert.
//
// Not fixed here (the fault is in auth/sessionload.go, sessionWriter.Write
// and WriteHeader: once st.commit has answered with an error, they must
// drop the handler's status and body instead of passing them on).
func TestASessionThatCannotBeSavedAnswersOneError(t *testing.T) {
	dir := t.TempDir()
	a := openTestApp(t, dir)
	a.signup("alice")
	sqlExec(t, filepath.Join(dir, tenant.RoutingFile),
		`CREATE TRIGGER refuse_sessions BEFORE INSERT ON auth_sessions BEGIN SELECT RAISE(ABORT, 'sessions refused'); END`)

	c := &apiClient{t: t, app: a.app}
	rec := c.do(http.MethodPost, "/api/v1/login", `{"username":"alice","password":"`+testPassword+`"}`)
	if rec.Code < 500 {
		t.Fatalf("login whose session could not be saved: %d %s; want a 5xx", rec.Code, rec.Body)
	}
	dec := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
	var e struct {
		Error struct{ Code string } `json:"error"`
	}
	if err := dec.Decode(&e); err != nil || e.Error.Code == "" {
		t.Fatalf("body %q is not an error answer: %v", rec.Body, err)
	}
	if rest, _ := io.ReadAll(dec.Buffered()); len(bytes.TrimSpace(rest)) > 0 || dec.More() {
		t.Fatalf("%d with body %q: the handler's own answer follows the error", rec.Code, rec.Body)
	}
	if c.cookie != nil && c.cookie.Value != "" {
		t.Fatalf("a session cookie was set for a session that was never saved")
	}
}

// An operator copies one user's file over another's (a restore of the
// wrong file, two ids mixed up) while the server is stopped or the
// tenant's handle is closed. The pool opens whatever is at the path, so
// bob is served carol's notes, writes into her copy, and `cubby check`
// reports the directory as ok (by hand, the same with serve --max-open 2
// and the file swapped while bob's handle was evicted). Nothing in a
// tenant file says whose it is to the pool; the account row the app keeps
// in it names carol.
//
// Now the pool asks the accounts whether a file it opens is its tenant's
// (tenant.Config.Verify, auth.VerifyFile: the account row names the
// username), and refuses one that is not as ErrUnavailable.
func TestAnotherUsersFileAtATenantsPathIsNeverServed(t *testing.T) {
	dir := t.TempDir()
	a := openTestApp(t, dir)
	bob, carol := a.signup("bob"), a.signup("carol")
	cc := &apiClient{t: t, app: a.app}
	cc.want(http.StatusOK, http.MethodPost, "/api/v1/login", `{"username":"carol","password":"`+testPassword+`"}`)
	cc.want(http.StatusCreated, http.MethodPost, "/api/v1/notes", `{"title":"carol's secret"}`)
	a.close()

	src, dst := tenantPath(dir, carol.ID), tenantPath(dir, bob.ID)
	for _, s := range []string{"", "-wal", "-shm"} {
		if err := os.Remove(dst + s); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(src) // closed cleanly: the WAL is checkpointed
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}

	a = openTestApp(t, dir)
	bc := &apiClient{t: t, app: a.app}
	rec := bc.do(http.MethodPost, "/api/v1/login", `{"username":"bob","password":"`+testPassword+`"}`)
	if rec.Code == http.StatusOK {
		rec = bc.do(http.MethodGet, "/api/v1/notes", "")
	}
	if strings.Contains(rec.Body.String(), "carol's secret") {
		t.Fatalf("bob was served carol's notes from her file copied to his path: %d %s", rec.Code, rec.Body)
	}
}

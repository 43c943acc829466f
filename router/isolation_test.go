package router

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cubbyhq/cubby/tenant"
)

// The isolation property: many users doing random creates, reads, updates,
// deletes, searches and re-logins through the real router, over a pool far
// smaller than the user count, each checked after every step against a model
// of that user's notes. A note that is not in the model (another user's, or
// one a delete should have removed) or a model note that is missing (an
// acknowledged write lost) fails the test. Every body names its owner, so a
// foreign note can never match the model by chance.

const (
	isolationUsers    = 50
	isolationCapacity = 4
)

// isolationSeed is CUBBY_SEED when set (to replay a failure), else random.
func isolationSeed(t *testing.T) uint64 {
	t.Helper()
	seed := rand.Uint64()
	if s := os.Getenv("CUBBY_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("CUBBY_SEED=%q: %v", s, err)
		}
		seed = v
	}
	t.Logf("seed %d (replay with CUBBY_SEED=%d)", seed, seed)
	return seed
}

// isolationVocabulary are the words titles and bodies are made of; every
// search asks for one or two of them, or for a username.
var isolationVocabulary = []string{"apple", "river", "stone", "cloud", "amber", "maple", "orbit", "quartz"}

// modelUser is one user's client and what their notes must be.
type modelUser struct {
	name, password string
	c              *client
	notes          map[int64]noteJSON
	others         []string // every other username, for cross-user searches
}

func newIsolationRig(t *testing.T) (*rig, []*modelUser) {
	t.Helper()
	r := newRig(t, rigOptions{pool: tenant.Config{MaxOpen: isolationCapacity}})
	var names []string
	for i := range isolationUsers {
		names = append(names, fmt.Sprintf("user%02d", i))
	}
	users := make([]*modelUser, len(names))
	for i, name := range names {
		u := &modelUser{name: name, password: "password " + name, c: r.client(), notes: map[int64]noteJSON{}}
		u.c.signup(name, u.password)
		u.others = slices.Concat(names[:i], names[i+1:])
		users[i] = u
	}
	return r, users
}

// visit runs one to four steps as u: a user's requests come in bursts, so
// the pool sees both misses (a new user) and hits (the same one again).
func visit(u *modelUser, rng *rand.Rand) error {
	for range 1 + rng.IntN(4) {
		if err := u.step(rng); err != nil {
			return err
		}
	}
	return nil
}

// step does one random operation as u and checks its answer, then checks
// u's whole list against the model.
func (u *modelUser) step(rng *rand.Rand) error {
	var err error
	switch op := rng.IntN(100); {
	case op < 30:
		err = u.create(rng)
	case op < 45:
		err = u.get(rng)
	case op < 60:
		err = u.update(rng)
	case op < 70:
		err = u.remove(rng)
	case op < 95:
		err = u.search(rng)
	default:
		err = u.relogin()
	}
	if err != nil {
		return err
	}
	return u.verify()
}

// words returns n random words of the vocabulary.
func words(rng *rand.Rand, n int) string {
	w := make([]string, n)
	for i := range w {
		w[i] = isolationVocabulary[rng.IntN(len(isolationVocabulary))]
	}
	return strings.Join(w, " ")
}

func (u *modelUser) draft(rng *rand.Rand) (title, body string) {
	return words(rng, 1+rng.IntN(2)), "owner " + u.name + " " + words(rng, rng.IntN(3))
}

// pick returns the id of a random note of u's, or a random id that may
// belong to another user when u has none or by chance.
func (u *modelUser) pick(rng *rand.Rand) int64 {
	if len(u.notes) == 0 || rng.IntN(5) == 0 {
		return 1 + rng.Int64N(60)
	}
	ids := make([]int64, 0, len(u.notes))
	for id := range u.notes {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids[rng.IntN(len(ids))]
}

func (u *modelUser) create(rng *rand.Rand) error {
	title, body := u.draft(rng)
	rec := u.c.do("POST", "/api/v1/notes", map[string]string{"title": title, "body": body})
	n, err := answer[noteJSON](rec, http.StatusCreated)
	if err != nil {
		return fmt.Errorf("%s: create: %w", u.name, err)
	}
	if _, dup := u.notes[n.ID]; dup || n.Title != title || n.Body != body || n.CreatedAt != n.UpdatedAt {
		return fmt.Errorf("%s: create %q %q answered %+v (existing: %v)", u.name, title, body, n, dup)
	}
	u.notes[n.ID] = n
	return nil
}

func (u *modelUser) get(rng *rand.Rand) error {
	id := u.pick(rng)
	rec := u.c.do("GET", fmt.Sprintf("/api/v1/notes/%d", id), nil)
	want, ok := u.notes[id]
	if !ok {
		return wantCode(rec, http.StatusNotFound, fmt.Sprintf("%s: get foreign or deleted note %d", u.name, id))
	}
	got, err := answer[noteJSON](rec, http.StatusOK)
	if err != nil || got != want {
		return fmt.Errorf("%s: get %d = %+v, %v; want %+v", u.name, id, got, err, want)
	}
	return nil
}

func (u *modelUser) update(rng *rand.Rand) error {
	id := u.pick(rng)
	title, body := u.draft(rng)
	rec := u.c.do("PUT", fmt.Sprintf("/api/v1/notes/%d", id), map[string]string{"title": title, "body": body})
	old, ok := u.notes[id]
	if !ok {
		return wantCode(rec, http.StatusNotFound, fmt.Sprintf("%s: update foreign or deleted note %d", u.name, id))
	}
	got, err := answer[noteJSON](rec, http.StatusOK)
	if err != nil || got.ID != id || got.Title != title || got.Body != body || got.CreatedAt != old.CreatedAt {
		return fmt.Errorf("%s: update %d = %+v, %v; want %q %q created %s", u.name, id, got, err, title, body, old.CreatedAt)
	}
	u.notes[id] = got
	return nil
}

func (u *modelUser) remove(rng *rand.Rand) error {
	id := u.pick(rng)
	rec := u.c.do("DELETE", fmt.Sprintf("/api/v1/notes/%d", id), nil)
	if _, ok := u.notes[id]; !ok {
		return wantCode(rec, http.StatusNotFound, fmt.Sprintf("%s: delete foreign or deleted note %d", u.name, id))
	}
	if err := wantCode(rec, http.StatusNoContent, fmt.Sprintf("%s: delete %d", u.name, id)); err != nil {
		return err
	}
	delete(u.notes, id)
	return nil
}

// search asks for vocabulary words, u's own name (every note of u's) or
// another user's name (none of u's).
func (u *modelUser) search(rng *rand.Rand) error {
	var q string
	switch rng.IntN(4) {
	case 0:
		q = u.name
	case 1:
		q = u.others[rng.IntN(len(u.others))]
	default:
		q = words(rng, 1+rng.IntN(2))
	}
	limit := 1000
	if rng.IntN(3) == 0 {
		limit = 1 + rng.IntN(4)
	}
	rec := u.c.do("GET", fmt.Sprintf("/api/v1/notes?q=%s&limit=%d", url.QueryEscape(q), limit), nil)
	got, err := answer[notesJSON](rec, http.StatusOK)
	if err != nil {
		return fmt.Errorf("%s: search %q: %w", u.name, q, err)
	}
	want := u.expected(func(n noteJSON) bool { return matchesAll(n, q) }, limit)
	if !slices.Equal(got.Notes, want) {
		return fmt.Errorf("%s: search %q limit %d:\n got %+v\nwant %+v", u.name, q, limit, got.Notes, want)
	}
	return nil
}

// matchesAll reports whether every word of q is a word of n's title or body.
func matchesAll(n noteJSON, q string) bool {
	have := strings.Fields(n.Title + " " + n.Body)
	for _, w := range strings.Fields(q) {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

// relogin signs out and in again, so the next steps run under a new token.
func (u *modelUser) relogin() error {
	old := u.c.cookie
	if err := wantCode(u.c.do("POST", "/api/v1/logout", nil), http.StatusNoContent, u.name+": logout"); err != nil {
		return err
	}
	rec := u.c.do("POST", "/api/v1/login", map[string]string{"username": u.name, "password": u.password})
	got, err := answer[usernameResponse](rec, http.StatusOK)
	if err != nil || got.Username != u.name || u.c.cookie == nil || u.c.cookie.Value == old.Value {
		return fmt.Errorf("%s: login = %+v, %v (new cookie: %v)", u.name, got, err, u.c.cookie != nil)
	}
	return nil
}

// verify lists every note of u's and compares the list with the model.
func (u *modelUser) verify() error {
	got, err := answer[notesJSON](u.c.do("GET", "/api/v1/notes?limit=1000", nil), http.StatusOK)
	if err != nil {
		return fmt.Errorf("%s: list: %w", u.name, err)
	}
	if want := u.expected(nil, 1000); !slices.Equal(got.Notes, want) {
		return fmt.Errorf("%s: list differs from the model:\n got %+v\nwant %+v", u.name, got.Notes, want)
	}
	return nil
}

// expected is the model's answer to a listing: the notes keep accepts (all
// when nil), newest first, at most limit.
func (u *modelUser) expected(keep func(noteJSON) bool, limit int) []noteJSON {
	out := []noteJSON{}
	for _, n := range u.notes {
		if keep == nil || keep(n) {
			out = append(out, n)
		}
	}
	slices.SortFunc(out, func(a, b noteJSON) int {
		ta, _ := time.Parse(time.RFC3339Nano, a.CreatedAt)
		tb, _ := time.Parse(time.RFC3339Nano, b.CreatedAt)
		if c := tb.Compare(ta); c != 0 {
			return c
		}
		return int(b.ID - a.ID)
	})
	return out[:min(limit, len(out))]
}

// answer decodes a JSON answer with status, refusing unknown fields.
func answer[T any](rec *httptest.ResponseRecorder, status int) (T, error) {
	var v T
	if rec.Code != status {
		return v, fmt.Errorf("status %d; want %d (%s)", rec.Code, status, strings.TrimSpace(rec.Body.String()))
	}
	dec := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return v, fmt.Errorf("decode %q: %w", rec.Body, err)
	}
	return v, nil
}

func wantCode(rec *httptest.ResponseRecorder, status int, what string) error {
	if rec.Code != status {
		return fmt.Errorf("%s: status %d; want %d (%s)", what, rec.Code, status, strings.TrimSpace(rec.Body.String()))
	}
	return nil
}

func TestIsolationProperty(t *testing.T) {
	seed := isolationSeed(t)
	r, users := newIsolationRig(t)
	sequential := t.Run("sequential", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(seed, 1))
		for i := range 80 * stressScale {
			if err := visit(users[rng.IntN(len(users))], rng); err != nil {
				t.Fatalf("visit %d: %v", i, err)
			}
		}
	})
	if !sequential {
		return // the models no longer hold
	}
	t.Run("concurrent", func(t *testing.T) {
		const workers = 6
		var wg sync.WaitGroup
		for w := range workers {
			var mine []*modelUser // each user belongs to one worker, so its model needs no lock
			for i := w; i < len(users); i += workers {
				mine = append(mine, users[i])
			}
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(seed, uint64(w)+2))
				for i := range 12 * stressScale {
					if err := visit(mine[rng.IntN(len(mine))], rng); err != nil {
						t.Errorf("worker %d visit %d: %v", w, i, err)
						return
					}
				}
			})
		}
		wg.Wait()
	})
	for _, u := range users {
		if err := u.verify(); err != nil {
			t.Error(err)
		}
	}
	if st := r.pool.Stats(); st.Evictions < 50 || st.Open > isolationCapacity {
		t.Fatalf("pool %+v: the test did not run the pool well past its capacity", st)
	}
}

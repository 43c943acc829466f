package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cubbyhq/cubby/cluster/clustertest"
	"github.com/cubbyhq/cubby/replica/replicatest"
)

// The isolation property across nodes (router/isolation_test.go's, on the
// 3-node rig): users doing random creates, reads, updates, deletes,
// searches and re-logins, each request sent to a random node (so most are
// forwarded to the tenant's owner, and a logout on one node is followed by
// a login on another), every answer and, after every step, the user's
// whole list through a random node checked against a model of their notes.
// Every body names its owner, so another user's note never matches.

// clusterIsolationVocabulary are the words titles and bodies are made of.
var clusterIsolationVocabulary = []string{"apple", "river", "stone", "cloud", "amber", "maple"}

// clusterNote is a note as the API answers it.
type clusterNote struct {
	ID        int64  `json:"id"`
	Title     string `json:"title"`
	Body      string `json:"body"`
	CreatedAt string `json:"created_at"`
	UpdatedAt string `json:"updated_at"`
}

// clusterModelUser is one user's client and what their notes must be.
type clusterModelUser struct {
	name   string
	c      *client
	notes  map[int64]clusterNote
	others []string
	nodes  []*clusterNode
}

// TestClusterIsolationProperty runs the isolation property through three
// nodes; the seed is logged, and CUBBY_SEED replays it.
func TestClusterIsolationProperty(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd, S3 and three nodes")
	}
	t.Setenv("AWS_CA_BUNDLE", "")
	seed := rand.Uint64()
	if s := os.Getenv("CUBBY_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("CUBBY_SEED=%q: %v", s, err)
		}
		seed = v
	}
	t.Logf("seed %d (replay with CUBBY_SEED=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 1))

	etcd := clustertest.Start(t)
	s3 := replicatest.New(t)
	nodes := []*clusterNode{
		startClusterNode(t, etcd, s3, "iso", "a"),
		startClusterNode(t, etcd, s3, "iso", "b"),
		startClusterNode(t, etcd, s3, "iso", "c"),
	}
	var names []string
	for i := range 9 {
		names = append(names, fmt.Sprintf("iso%d", i))
	}
	users := make([]*clusterModelUser, len(names))
	for i, name := range names {
		u := &clusterModelUser{name: name, c: &client{t: t}, notes: map[int64]clusterNote{}, nodes: nodes,
			others: slices.Concat(names[:i], names[i+1:])}
		if s, body := u.c.signup(nodes[i%3], name); s != http.StatusCreated {
			t.Fatalf("signup %s: %d %s", name, s, body)
		}
		users[i] = u
	}
	for i := range 120 {
		u := users[rng.IntN(len(users))]
		if err := u.step(rng); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	for _, u := range users {
		for _, n := range nodes {
			if err := u.verify(n); err != nil {
				t.Error(err)
			}
		}
	}
}

// node returns a random node.
func (u *clusterModelUser) node(rng *rand.Rand) *clusterNode { return u.nodes[rng.IntN(len(u.nodes))] }

// step does one random operation as u through a random node, checks its
// answer, then checks u's list through another random node.
func (u *clusterModelUser) step(rng *rand.Rand) error {
	var err error
	n := u.node(rng)
	switch op := rng.IntN(100); {
	case op < 30:
		err = u.create(n, rng)
	case op < 45:
		err = u.get(n, rng)
	case op < 60:
		err = u.update(n, rng)
	case op < 70:
		err = u.remove(n, rng)
	case op < 92:
		err = u.search(n, rng)
	default:
		err = u.relogin(n, u.node(rng))
	}
	if err != nil {
		return err
	}
	return u.verify(u.node(rng))
}

// words returns n random words of the vocabulary.
func clusterWords(rng *rand.Rand, n int) string {
	w := make([]string, n)
	for i := range w {
		w[i] = clusterIsolationVocabulary[rng.IntN(len(clusterIsolationVocabulary))]
	}
	return strings.Join(w, " ")
}

// draft makes a title and a body naming u.
func (u *clusterModelUser) draft(rng *rand.Rand) (title, body string) {
	return clusterWords(rng, 1+rng.IntN(2)), "owner " + u.name + " " + clusterWords(rng, rng.IntN(3))
}

// pick returns one of u's note ids, or a random id that may be another
// user's (ids are per tenant, so most are).
func (u *clusterModelUser) pick(rng *rand.Rand) int64 {
	if len(u.notes) == 0 || rng.IntN(4) == 0 {
		return 1 + rng.Int64N(30)
	}
	ids := make([]int64, 0, len(u.notes))
	for id := range u.notes {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids[rng.IntN(len(ids))]
}

func (u *clusterModelUser) create(n *clusterNode, rng *rand.Rand) error {
	title, body := u.draft(rng)
	s, b := u.c.do(n, "POST", "/api/v1/notes", map[string]string{"title": title, "body": body})
	got, err := decodeAnswer[clusterNote](s, b, http.StatusCreated)
	if err != nil {
		return fmt.Errorf("%s: create through %s: %w", u.name, n.id, err)
	}
	if _, dup := u.notes[got.ID]; dup || got.Title != title || got.Body != body {
		return fmt.Errorf("%s: create %q %q through %s answered %+v (existing: %v)", u.name, title, body, n.id, got, dup)
	}
	u.notes[got.ID] = got
	return nil
}

func (u *clusterModelUser) get(n *clusterNode, rng *rand.Rand) error {
	id := u.pick(rng)
	s, b := u.c.do(n, "GET", fmt.Sprintf("/api/v1/notes/%d", id), nil)
	want, ok := u.notes[id]
	if !ok {
		return wantStatus(s, b, http.StatusNotFound, fmt.Sprintf("%s: get foreign or deleted note %d through %s", u.name, id, n.id))
	}
	got, err := decodeAnswer[clusterNote](s, b, http.StatusOK)
	if err != nil || got != want {
		return fmt.Errorf("%s: get %d through %s = %+v, %v; want %+v", u.name, id, n.id, got, err, want)
	}
	return nil
}

func (u *clusterModelUser) update(n *clusterNode, rng *rand.Rand) error {
	id := u.pick(rng)
	title, body := u.draft(rng)
	s, b := u.c.do(n, "PUT", fmt.Sprintf("/api/v1/notes/%d", id), map[string]string{"title": title, "body": body})
	old, ok := u.notes[id]
	if !ok {
		return wantStatus(s, b, http.StatusNotFound, fmt.Sprintf("%s: update foreign or deleted note %d through %s", u.name, id, n.id))
	}
	got, err := decodeAnswer[clusterNote](s, b, http.StatusOK)
	if err != nil || got.ID != id || got.Title != title || got.Body != body || got.CreatedAt != old.CreatedAt {
		return fmt.Errorf("%s: update %d through %s = %+v, %v; want %q %q", u.name, id, n.id, got, err, title, body)
	}
	u.notes[id] = got
	return nil
}

func (u *clusterModelUser) remove(n *clusterNode, rng *rand.Rand) error {
	id := u.pick(rng)
	s, b := u.c.do(n, "DELETE", fmt.Sprintf("/api/v1/notes/%d", id), nil)
	if _, ok := u.notes[id]; !ok {
		return wantStatus(s, b, http.StatusNotFound, fmt.Sprintf("%s: delete foreign or deleted note %d through %s", u.name, id, n.id))
	}
	if err := wantStatus(s, b, http.StatusNoContent, fmt.Sprintf("%s: delete %d through %s", u.name, id, n.id)); err != nil {
		return err
	}
	delete(u.notes, id)
	return nil
}

// search asks for vocabulary words, u's own name or another user's name.
func (u *clusterModelUser) search(n *clusterNode, rng *rand.Rand) error {
	var q string
	switch rng.IntN(4) {
	case 0:
		q = u.name
	case 1:
		q = u.others[rng.IntN(len(u.others))]
	default:
		q = clusterWords(rng, 1+rng.IntN(2))
	}
	return u.list(n, q)
}

// relogin logs out through one node and in through another.
func (u *clusterModelUser) relogin(out, in *clusterNode) error {
	old := u.c.session
	if s, b := u.c.do(out, "POST", "/api/v1/logout", nil); s != http.StatusNoContent {
		return fmt.Errorf("%s: logout through %s: %d %s", u.name, out.id, s, b)
	}
	if s, b := u.c.do(in, "POST", "/api/v1/login", map[string]string{"username": u.name, "password": clusterPassword}); s != http.StatusOK || u.c.session == old {
		return fmt.Errorf("%s: login through %s: %d %s (new session: %v)", u.name, in.id, s, b, u.c.session != old)
	}
	return nil
}

// verify lists all of u's notes through n and compares them with the model.
func (u *clusterModelUser) verify(n *clusterNode) error { return u.list(n, "") }

// list lists u's notes matching q (all when empty) through n and compares
// them with the model.
func (u *clusterModelUser) list(n *clusterNode, q string) error {
	path := "/api/v1/notes?limit=1000"
	if q != "" {
		path += "&q=" + url.QueryEscape(q)
	}
	s, b := u.c.do(n, "GET", path, nil)
	got, err := decodeAnswer[struct {
		Notes      []clusterNote   `json:"notes"`
		NextCursor json.RawMessage `json:"next_cursor"`
	}](s, b, http.StatusOK)
	if err != nil {
		return fmt.Errorf("%s: list %q through %s: %w", u.name, q, n.id, err)
	}
	if want := u.expected(q); !slices.Equal(got.Notes, want) {
		return fmt.Errorf("%s: list %q through %s:\n got %+v\nwant %+v", u.name, q, n.id, got.Notes, want)
	}
	return nil
}

// expected is the model's answer to a listing for q: newest first.
func (u *clusterModelUser) expected(q string) []clusterNote {
	out := []clusterNote{}
	for _, n := range u.notes {
		have := strings.Fields(n.Title + " " + n.Body)
		match := true
		for _, w := range strings.Fields(q) {
			match = match && slices.Contains(have, w)
		}
		if match {
			out = append(out, n)
		}
	}
	slices.SortFunc(out, func(a, b clusterNote) int {
		ta, _ := time.Parse(time.RFC3339Nano, a.CreatedAt)
		tb, _ := time.Parse(time.RFC3339Nano, b.CreatedAt)
		if c := tb.Compare(ta); c != 0 {
			return c
		}
		return int(b.ID - a.ID)
	})
	return out
}

// decodeAnswer decodes a JSON answer with status, refusing unknown fields.
func decodeAnswer[T any](status int, body []byte, want int) (T, error) {
	var v T
	if status != want {
		return v, fmt.Errorf("status %d; want %d (%s)", status, want, bytes.TrimSpace(body))
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return v, fmt.Errorf("decode %q: %w", body, err)
	}
	return v, nil
}

// wantStatus checks an answer's status.
func wantStatus(status int, body []byte, want int, what string) error {
	if status != want {
		return fmt.Errorf("%s: status %d; want %d (%s)", what, status, want, bytes.TrimSpace(body))
	}
	return nil
}

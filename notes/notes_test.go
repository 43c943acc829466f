package notes_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cubbyhq/cubby/notes"
	"github.com/cubbyhq/cubby/tenant"
	"github.com/cubbyhq/cubby/tenant/tenanttest"
)

// newStore provisions one tenant on a fresh pool and returns its store,
// released when the test ends.
func newStore(tb testing.TB, pool *tenant.Pool, name string) *tenant.Store {
	tb.Helper()
	if pool == nil {
		pool = tenanttest.New(tb, tenant.Config{Migrations: tenanttest.Migrations(tb, "../schema.sql")})
	}
	tn, err := pool.Provision(context.Background(), name, nil)
	if err != nil {
		tb.Fatalf("provision %s: %v", name, err)
	}
	s, release, err := pool.Acquire(context.Background(), tn.ID)
	if err != nil {
		tb.Fatalf("acquire %s: %v", name, err)
	}
	tb.Cleanup(release)
	return s
}

// tickingClock returns a clock that moves one second forward at each call.
func tickingClock() func() time.Time {
	var n atomic.Int64
	start := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	return func() time.Time { return start.Add(time.Duration(n.Add(1)) * time.Second) }
}

func TestCreateGetUpdateDelete(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, nil, "alice")
	nb := notes.Notebook{Now: tickingClock()}

	n, err := nb.Create(ctx, s, notes.Draft{Title: "Groceries", Body: "milk, eggs"})
	if err != nil {
		t.Fatal(err)
	}
	if n.ID <= 0 || n.Title != "Groceries" || n.Body != "milk, eggs" || !n.CreatedAt.Equal(n.UpdatedAt) {
		t.Fatalf("created %+v", n)
	}
	got, err := nb.Get(ctx, s, n.ID)
	if err != nil || got != n {
		t.Fatalf("get = %+v, %v; want %+v", got, err, n)
	}
	up, err := nb.Update(ctx, s, n.ID, notes.Draft{Title: "Shopping"})
	if err != nil {
		t.Fatal(err)
	}
	if up.Title != "Shopping" || up.Body != "" || !up.CreatedAt.Equal(n.CreatedAt) || !up.UpdatedAt.After(n.UpdatedAt) {
		t.Fatalf("updated %+v from %+v", up, n)
	}
	if err := nb.Delete(ctx, s, n.ID); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"get":    func() error { _, err := nb.Get(ctx, s, n.ID); return err }(),
		"update": func() error { _, err := nb.Update(ctx, s, n.ID, notes.Draft{Title: "x"}); return err }(),
		"delete": nb.Delete(ctx, s, n.ID),
	} {
		if !errors.Is(err, notes.ErrNotFound) {
			t.Errorf("%s after delete: %v; want ErrNotFound", name, err)
		}
	}
}

func TestDraftValidation(t *testing.T) {
	cases := []struct {
		name  string
		d     notes.Draft
		field string
	}{
		{"empty title", notes.Draft{}, "title"},
		{"blank title", notes.Draft{Title: " \t\n"}, "title"},
		{"long title", notes.Draft{Title: strings.Repeat("é", 201)}, "title"},
		{"invalid utf-8 title", notes.Draft{Title: "a\xffb"}, "title"},
		{"long body", notes.Draft{Title: "t", Body: strings.Repeat("x", 1<<20+1)}, "body"},
		{"invalid utf-8 body", notes.Draft{Title: "t", Body: "\xc3"}, "body"},
		{"zero-width space title", notes.Draft{Title: "\u200b"}, "title"},
		{"nul title", notes.Draft{Title: "\u0000"}, "title"},
		{"bell among spaces title", notes.Draft{Title: " \u0007 "}, "title"},
		{"word joiner and BOM title", notes.Draft{Title: "\u2060\ufeff"}, "title"},
		{"soft hyphen title", notes.Draft{Title: "\u00ad\u00ad"}, "title"},
		{"hangul filler title", notes.Draft{Title: "\u3164"}, "title"},
		{"halfwidth hangul filler title", notes.Draft{Title: "\uffa0 \u115f\u1160"}, "title"},
		{"variation selectors title", notes.Draft{Title: "\ufe0f\U000e0100"}, "title"},
		{"combining marks alone title", notes.Draft{Title: "\u0301\u0308 \u20dd"}, "title"},
		{"spacing mark alone title", notes.Draft{Title: "\u0903"}, "title"},
		{"direction marks title", notes.Draft{Title: "\u200e\u202e\u2066"}, "title"},
		{"tag characters title", notes.Draft{Title: "\U000e0041\U000e007f"}, "title"},
		{"braille blank title", notes.Draft{Title: "\u2800"}, "title"},
		{"ideographic space title", notes.Draft{Title: "\u3000\u00a0\u2028"}, "title"},
		{"nul inside title", notes.Draft{Title: "a\x00b"}, "title"},
		{"escape inside title", notes.Draft{Title: "red \x1b[31m"}, "title"},
		{"delete inside title", notes.Draft{Title: "a\x7f"}, "title"},
		{"C1 control inside title", notes.Draft{Title: "a\u0085b"}, "title"},
		{"nul in body", notes.Draft{Title: "t", Body: "a\x00b"}, "body"},
		{"bell in body", notes.Draft{Title: "t", Body: "ding\a"}, "body"},
		{"form feed in body", notes.Draft{Title: "t", Body: "page\fbreak"}, "body"},
		{"C1 control in body", notes.Draft{Title: "t", Body: "\u009b31m"}, "body"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var ve *notes.ValidationError
			err := c.d.Validate()
			if !errors.As(err, &ve) || ve.Field != c.field || !errors.Is(err, notes.ErrInvalidNote) {
				t.Fatalf("Validate = %v; want a ValidationError on %s", err, c.field)
			}
		})
	}
	for _, d := range []notes.Draft{
		{Title: strings.Repeat("é", 200)},
		{Title: "x", Body: strings.Repeat("x", 1<<20)},
		{Title: "e\u0301", Body: "a combining mark on a letter"},
		{Title: "\u200bx\ufeff"},
		{Title: "🙂"},
		{Title: "👩\u200d💻 \u2764\ufe0f"},
		{Title: "日本語"},
		{Title: "\u0915\u0903"},
		{Title: "ß", Body: "tabs\tand\r\nnew lines\n"},
		{Title: "a\tb"},
		{Title: "\u00a0x\u2028"},
		{Title: "\ufffd"},
	} {
		if err := d.Validate(); err != nil {
			t.Errorf("Validate(%d runes, %d bytes) = %v", len([]rune(d.Title)), len(d.Body), err)
		}
	}
}

func TestInvalidDraftWritesNothing(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, nil, "alice")
	nb := notes.Notebook{}
	if _, err := nb.Create(ctx, s, notes.Draft{Title: " "}); !errors.Is(err, notes.ErrInvalidNote) {
		t.Fatalf("create blank: %v", err)
	}
	n, _ := nb.Create(ctx, s, notes.Draft{Title: "keep"})
	if _, err := nb.Update(ctx, s, n.ID, notes.Draft{}); !errors.Is(err, notes.ErrInvalidNote) {
		t.Fatalf("update blank: %v", err)
	}
	if got, _ := nb.Get(ctx, s, n.ID); got.Title != "keep" {
		t.Fatalf("title = %q after a refused update", got.Title)
	}
	if c, _ := nb.Count(ctx, s); c != 1 {
		t.Fatalf("count = %d", c)
	}
}

func TestListNewestFirstWithLimit(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, nil, "alice")
	nb := notes.Notebook{Now: tickingClock()}
	for _, title := range []string{"one", "two", "three", "four"} {
		if _, err := nb.Create(ctx, s, notes.Draft{Title: title}); err != nil {
			t.Fatal(err)
		}
	}
	page, err := nb.List(ctx, s, 3, "")
	if err != nil {
		t.Fatal(err)
	}
	if titles(page.Notes) != "four three two" || page.Next == "" {
		t.Fatalf("list = %s, next %q", titles(page.Notes), page.Next)
	}
	for _, bad := range []int{0, -1, 1001} {
		if _, err := nb.List(ctx, s, bad, ""); !errors.Is(err, notes.ErrBadQuery) {
			t.Errorf("List(limit %d) = %v; want ErrBadQuery", bad, err)
		}
	}
}

func TestSameTimestampOrdersByID(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, nil, "alice")
	fixed := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	nb := notes.Notebook{Now: func() time.Time { return fixed }}
	for _, title := range []string{"a", "b", "c"} {
		nb.Create(ctx, s, notes.Draft{Title: title})
	}
	page, _ := nb.List(ctx, s, 10, "")
	if titles(page.Notes) != "c b a" || page.Next != "" {
		t.Fatalf("list = %s, next %q", titles(page.Notes), page.Next)
	}
}

func titles(ns []notes.Note) string {
	var out []string
	for _, n := range ns {
		out = append(out, n.Title)
	}
	return strings.Join(out, " ")
}

func TestStoresAreIsolated(t *testing.T) {
	ctx := context.Background()
	pool := tenanttest.New(t, tenant.Config{Migrations: tenanttest.Migrations(t, "../schema.sql")})
	a, b := newStore(t, pool, "alice"), newStore(t, pool, "bob")
	nb := notes.Notebook{}
	na, _ := nb.Create(ctx, a, notes.Draft{Title: "alice secret"})
	if _, err := nb.Get(ctx, b, na.ID); !errors.Is(err, notes.ErrNotFound) {
		t.Fatalf("bob got alice's note: %v", err)
	}
	if got, _ := nb.Search(ctx, b, "secret", 10, ""); len(got.Notes) != 0 {
		t.Fatalf("bob's search found %v", got)
	}
}

// TestKeyedStatementsDoNotWatchTheContext: a statement on one note by its
// id costs the same under a request's context, which can end, as under one
// that cannot (no watcher goroutines: see keyed), and a context that has
// already ended is refused before the statement runs, writing nothing.
func TestKeyedStatementsDoNotWatchTheContext(t *testing.T) {
	s := newStore(t, nil, "alice")
	nb := notes.Notebook{}
	n, err := nb.Create(context.Background(), s, notes.Draft{Title: "hello", Body: "body"})
	if err != nil {
		t.Fatal(err)
	}
	live, cancel := context.WithCancel(context.Background())
	defer cancel()
	get := func(ctx context.Context) func() {
		return func() {
			if _, err := nb.Get(ctx, s, n.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	quiet := testing.AllocsPerRun(200, get(context.Background()))
	request := testing.AllocsPerRun(200, get(live))
	if request != quiet {
		t.Errorf("Get allocates %v times under a context that can end, %v under one that cannot: a watcher is back", request, quiet)
	}

	cancel()
	if _, err := nb.Get(live, s, n.ID); !errors.Is(err, context.Canceled) {
		t.Errorf("Get under an ended context: %v, want context.Canceled", err)
	}
	if _, err := nb.Create(live, s, notes.Draft{Title: "late", Body: "body"}); !errors.Is(err, context.Canceled) {
		t.Errorf("Create under an ended context: %v, want context.Canceled", err)
	}
	if _, err := nb.Update(live, s, n.ID, notes.Draft{Title: "late", Body: "body"}); !errors.Is(err, context.Canceled) {
		t.Errorf("Update under an ended context: %v, want context.Canceled", err)
	}
	if err := nb.Delete(live, s, n.ID); !errors.Is(err, context.Canceled) {
		t.Errorf("Delete under an ended context: %v, want context.Canceled", err)
	}
	got, err := nb.Get(context.Background(), s, n.ID)
	if err != nil || got.Title != "hello" {
		t.Errorf("after the refused changes: %+v, %v; want the note untouched", got, err)
	}
	if c, err := nb.Count(context.Background(), s); err != nil || c != 1 {
		t.Errorf("count after the refused create: %d, %v; want 1", c, err)
	}
}

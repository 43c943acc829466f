package web

import (
	"io/fs"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cubbyhq/cubby/notes"
)

func TestEveryPageRendersAndEscapes(t *testing.T) {
	p, err := Parse()
	if err != nil {
		t.Fatal(err)
	}
	evil := `<script>alert("x")</script>`
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	frame := Frame{Title: "t", User: evil}
	pages := map[string]any{
		PageLanding: Landing{Frame: frame, SignupOpen: true},
		PageSignup:  Credentials{Frame: frame, Username: evil, FieldErrors: map[string]string{"username": evil}},
		PageLogin:   Credentials{Frame: frame, Username: evil, Error: evil},
		PageNotes: NoteList{Frame: frame, Query: evil, Continued: true, Older: "/notes?cursor=x&q=" + evil,
			Notes: []notes.Note{{ID: 7, Title: evil, Body: evil, CreatedAt: now, UpdatedAt: now.Add(time.Hour)}},
			New:   NoteForm{Title: evil, FieldErrors: map[string]string{"title": evil}}},
		PageEdit:    NoteEdit{Frame: frame, ID: 7, Form: NoteForm{Title: evil, Body: evil}},
		PageAccount: Account{Frame: frame, CreatedAt: now, SizeBytes: 12345, DeleteError: evil},
		PageError:   Problem{Frame: frame, Status: 404, Message: evil},
	}
	for name, data := range pages {
		rec := httptest.NewRecorder()
		if err := p.Render(rec, 418, name, data); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		body := rec.Body.String()
		if rec.Code != 418 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
			t.Errorf("%s: status %d, type %q", name, rec.Code, rec.Header().Get("Content-Type"))
		}
		if strings.Contains(body, "<script>") {
			t.Errorf("%s: user data printed unescaped", name)
		}
		if strings.Contains(body, "style=") || strings.Contains(body, "<script") {
			t.Errorf("%s: inline style or script would break the CSP", name)
		}
	}
	if err := p.Render(httptest.NewRecorder(), 200, "nope", nil); err == nil {
		t.Error("rendering an unknown page succeeded")
	}
}

func TestRenderFailureWritesNothing(t *testing.T) {
	p, err := Parse()
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	if err := p.Render(rec, 200, PageNotes, struct{}{}); err == nil {
		t.Fatal("rendering with the wrong data succeeded")
	}
	if rec.Body.Len() != 0 || rec.Header().Get("Content-Type") != "" {
		t.Fatalf("a failed render wrote %q", rec.Body)
	}
}

func TestStaticHoldsTheStylesheet(t *testing.T) {
	if _, err := fs.Stat(Static(), "style.css"); err != nil {
		t.Fatal(err)
	}
}

func TestHumanBytes(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 1<<20 - 1: "1.0 MiB",
		5 << 20: "5.0 MiB", 3 << 30: "3.0 GiB", 1<<62 + 1<<61: "6.0 EiB",
	} {
		if got := HumanBytes(n); got != want {
			t.Errorf("HumanBytes(%d) = %q; want %q", n, got, want)
		}
	}
}

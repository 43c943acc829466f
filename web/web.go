// Package web holds the HTML app's templates and static files, embedded in
// the binary, and renders its pages.
//
// Every page is parsed once, at start, from templates/base.html (the frame
// every page shares), templates/partials.html (pieces several pages use) and
// its own file. Rendering goes through html/template,
// which escapes everything it prints; no template marks user data as safe.
package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"time"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Pages are the parsed templates, one per page, ready to render.
type Pages struct {
	byName map[string]*template.Template
}

// Parse parses every page. It fails only if a template is broken, which is a
// bug in this package.
func Parse() (*Pages, error) {
	funcs := template.FuncMap{"when": when, "bytes": HumanBytes}
	base, err := template.New("base.html").Funcs(funcs).ParseFS(templateFS, "templates/base.html", "templates/partials.html")
	if err != nil {
		return nil, fmt.Errorf("parse base template: %w", err)
	}
	names := []string{PageLanding, PageSignup, PageLogin, PageNotes, PageEdit, PageAccount, PageError, PageOperator}
	p := &Pages{byName: make(map[string]*template.Template, len(names))}
	for _, name := range names {
		t, err := base.Clone()
		if err == nil {
			t, err = t.ParseFS(templateFS, "templates/"+name+".html")
		}
		if err != nil {
			return nil, fmt.Errorf("parse %s template: %w", name, err)
		}
		p.byName[name] = t
	}
	return p, nil
}

// Render writes page name with data and status. It renders into a buffer
// first, so a failing template sends nothing and the caller can answer with
// an error instead. Once the page is rendered, an error writing it (the
// client went away) is not reported: nothing could be done about it.
func (p *Pages) Render(w http.ResponseWriter, status int, name string, data any) error {
	t, ok := p.byName[name]
	if !ok {
		return fmt.Errorf("render: no page %q", name)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "base.html", data); err != nil {
		return fmt.Errorf("render %s: %w", name, err)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	buf.WriteTo(w) //nolint:errcheck // see above
	return nil
}

// Static returns the files under static/ (served at /static/).
func Static() fs.FS {
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(err) // the folder is embedded: cannot happen
	}
	return sub
}

// when formats a time for people.
func when(t time.Time) string { return t.UTC().Format("2 Jan 2006 15:04 UTC") }

// HumanBytes formats a size in bytes for people, in binary units: 512 B,
// 24.0 KiB, 1.5 MiB. A size that would round up to 1024.0 of a unit is
// shown as 1.0 of the next, so 1 MiB less a byte is 1.0 MiB. The account
// page and cubby users show sizes with it.
func HumanBytes(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	v, unit := float64(n)/1024, 0
	for v >= 1023.95 && unit < 5 {
		v /= 1024
		unit++
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGTPE"[unit])
}

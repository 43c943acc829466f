//go:build e2e

package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
)

// Sizes of the screenshots: the desktop one is the README's.
const (
	desktopWidth, desktopHeight = 1000, 700
	phoneWidth, phoneHeight     = 375, 740
	stepTimeout                 = 20 * time.Second
)

// findChromium returns the path of Debian's Chromium. Without one the test
// skips, except under CI=true, where a missing browser is a failure.
func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "/usr/bin/chromium"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	const msg = "no Chromium found (looked for chromium and chromium-browser on PATH, and /usr/bin/chromium); " +
		"install it with: apt-get install --no-install-recommends chromium"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// artifactsDir is where a failing run leaves its screenshots, pages and
// logs: $CUBBY_E2E_ARTIFACTS, else $TMPDIR/cubby-e2e-artifacts.
func artifactsDir() string {
	if d := os.Getenv("CUBBY_E2E_ARTIFACTS"); d != "" {
		return d
	}
	return filepath.Join(os.TempDir(), "cubby-e2e-artifacts")
}

// saveArtifact writes one file of a failing run into artifactsDir.
func saveArtifact(t *testing.T, name string, data []byte) {
	t.Helper()
	dir := artifactsDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Logf("artifacts: %v", err)
		return
	}
	if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
		t.Logf("artifacts: %v", err)
	}
}

// lockedBuffer collects the server's log, which many goroutines write.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}

// startServer runs `cubby serve` in this process on free loopback ports
// and a fresh data directory until the test ends, and returns its base URL
// and that of its --metrics-addr listener (the operator page).
func startServer(t *testing.T) (base, ops string) {
	t.Helper()
	addr, opsAddr := freeAddr(t), freeAddr(t)
	data := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	logs := &lockedBuffer{}
	go func() {
		done <- run(ctx, []string{"serve", "--addr", addr, "--metrics-addr", opsAddr, "--data", data}, io.Discard, logs)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != exitOK {
				t.Errorf("serve exited with %d", code)
			}
		case <-time.After(30 * time.Second):
			t.Error("serve did not stop")
		}
		if t.Failed() {
			saveArtifact(t, "server.log", logs.Bytes())
		}
	})
	base, ops = "http://"+addr, "http://"+opsAddr
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case code := <-done:
			t.Fatalf("serve exited with %d:\n%s", code, logs.Bytes())
		default:
		}
		if res, err := http.Get(base + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return base, ops
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("server never became ready:\n%s", logs.Bytes())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// browser is one headless Chromium with a profile of its own, signed in as
// at most one user.
type browser struct {
	t         *testing.T
	name      string // the profile's name, in file names
	base      string // the server's base URL
	ctx       context.Context
	shots     string // where screenshots go
	downloads string

	mu      sync.Mutex
	console []chromedp.ConsoleMessage
}

// newBrowser starts Chromium at execPath with a fresh profile directory,
// closed when the test ends. On failure it leaves a screenshot, the page and
// the console in artifactsDir first.
func newBrowser(t *testing.T, execPath, base, name, shots string) *browser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(execPath),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		// The machine has no outside network: ask Chromium for none.
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-features", "Translate,OptimizationHints,MediaRouter"),
		chromedp.Flag("password-store", "basic"),
		chromedp.Flag("use-mock-keychain", true),
		chromedp.WindowSize(desktopWidth, desktopHeight),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	b := &browser{t: t, name: name, base: base, ctx: ctx, shots: shots, downloads: t.TempDir()}
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("%s: start Chromium: %v", name, err)
	}
	messages := chromedp.Console(ctx)
	go func() { // ends with ctx, when the browser closes
		for m, err := range messages {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.console = append(b.console, m)
			b.mu.Unlock()
		}
	}()
	_, err := chromedp.Call(ctx, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
		Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllow, DownloadPath: b.downloads,
	})
	if err != nil {
		t.Fatalf("%s: set download behaviour: %v", name, err)
	}
	t.Cleanup(b.saveFailure)
	return b
}

// do runs steps, failing the test with what if one fails or they take
// longer than stepTimeout.
func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("%s: %s: %v", b.name, what, err)
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("%s: evaluate %s: %v", b.name, expr, err)
	}
	return v
}

// open loads path and checks the page's status and path (after redirects).
func (b *browser) open(path string, status int, wantPath string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	res, err := chromedp.Run(ctx, chromedp.NavigateResponse(b.base+path))
	if err != nil {
		b.t.Fatalf("%s: open %s: %v", b.name, path, err)
	}
	b.arrived("open "+path, int(res.Status), status, wantPath)
}

// submit clicks the button that sel finds, waits for the page it leads to,
// and checks its status and path.
func (b *browser) submit(sel string, status int, wantPath string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	res, err := chromedp.RunResponse(ctx, chromedp.Click(sel))
	if err != nil {
		b.t.Fatalf("%s: click %s: %v", b.name, sel, err)
	}
	b.arrived("click "+sel, int(res.Status), status, wantPath)
}

// arrived checks where a navigation ended, and that the page is sound.
func (b *browser) arrived(what string, got, status int, wantPath string) {
	b.t.Helper()
	path := eval[string](b, `location.pathname + location.search`)
	if got != status || path != wantPath {
		b.t.Fatalf("%s: %s: got %d at %s; want %d at %s", b.name, what, got, path, status, wantPath)
	}
	b.checkPage(what)
}

// checkPage checks what every page owes its reader: the stylesheet applied
// (so the CSP let it through), no inline styles, a label on every field and
// nothing wider than the window.
func (b *browser) checkPage(what string) {
	b.t.Helper()
	problems := eval[[]string](b, `(() => {
		const p = [];
		if (getComputedStyle(document.querySelector('main')).maxWidth === 'none') p.push('stylesheet not applied');
		if (document.querySelector('[style]')) p.push('inline style attribute');
		for (const f of document.querySelectorAll('input:not([type=hidden]), textarea, select'))
			if (f.labels.length === 0) p.push('no label on #' + f.id + ' [name=' + f.name + ']');
		if (document.documentElement.scrollWidth > innerWidth) p.push('wider than the window: ' + document.documentElement.scrollWidth + 'px > ' + innerWidth + 'px');
		return p;
	})()`)
	if len(problems) > 0 {
		b.t.Fatalf("%s: after %s: %s", b.name, what, strings.Join(problems, "; "))
	}
}

// fill replaces the value of the field with id by typing value. (It empties
// the field with a script: chromedp's SetValue refuses an empty value.)
func (b *browser) fill(id, value string) {
	b.t.Helper()
	clear := chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.getElementById(%q).value = ""`, id))
	b.do("fill #"+id, chromedp.WaitVisible(chromedp.ID(id)), clear, chromedp.SendKeys(chromedp.ID(id), value))
}

// text is the visible text of the element sel finds.
func (b *browser) text(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(sel))
	if err != nil {
		b.t.Fatalf("%s: text of %s: %v", b.name, sel, err)
	}
	return s
}

// wantText checks that the element sel finds shows every one of wants, in
// any letter case (the stylesheet capitalises messages).
func (b *browser) wantText(sel string, wants ...string) {
	b.t.Helper()
	got := b.text(sel)
	for _, w := range wants {
		if !strings.Contains(strings.ToLower(got), strings.ToLower(w)) {
			b.t.Fatalf("%s: %s shows %q; want %q in it", b.name, sel, got, w)
		}
	}
}

// noteTitles lists the titles of the notes on the page, in order.
func (b *browser) noteTitles() []string {
	b.t.Helper()
	return eval[[]string](b, `[...document.querySelectorAll('article.note h3')].map(h => h.textContent)`)
}

// screenshot saves the viewport as a PNG named name in b.shots.
func (b *browser) screenshot(name string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Fatalf("%s: screenshot: %v", b.name, err)
	}
	path := filepath.Join(b.shots, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	return path
}

// viewport sets the window's size; a phone-sized one is a mobile viewport.
func (b *browser) viewport(width, height int64) {
	b.t.Helper()
	var opts []chromedp.EmulateViewportOption
	if width < 600 {
		opts = append(opts, chromedp.EmulateMobile, chromedp.EmulatePortrait)
	}
	b.do(fmt.Sprintf("viewport %dx%d", width, height), chromedp.EmulateViewport(width, height, opts...))
}

// download waits for a finished download and returns its path.
func (b *browser) download() string {
	b.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		entries, err := os.ReadDir(b.downloads)
		if err != nil {
			b.t.Fatal(err)
		}
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), ".sqlite") {
				return filepath.Join(b.downloads, e.Name())
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.t.Fatalf("%s: no finished download within 20s in %s", b.name, b.downloads)
	return ""
}

// cspViolations lists the console messages in which the browser refused
// something the Content-Security-Policy forbids, and uncaught exceptions.
func (b *browser) cspViolations() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var bad []string
	for _, m := range b.console {
		if m.IsException() || strings.Contains(m.Text, "Content Security Policy") {
			bad = append(bad, m.String())
		}
	}
	return bad
}

// saveFailure leaves what the browser shows, and its console, in
// artifactsDir when the test has failed, with the screenshots taken so far.
func (b *browser) saveFailure() {
	if !b.t.Failed() {
		return
	}
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	if png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot()); err == nil {
		saveArtifact(b.t, b.name+"-failure.png", png)
	}
	if html, err := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html"))); err == nil {
		saveArtifact(b.t, b.name+"-failure.html", []byte(html))
	}
	b.mu.Lock()
	var log strings.Builder
	for _, m := range b.console {
		fmt.Fprintln(&log, m.String())
	}
	b.mu.Unlock()
	saveArtifact(b.t, b.name+"-console.txt", []byte(log.String()))
	entries, _ := os.ReadDir(b.shots)
	for _, e := range entries {
		if data, err := os.ReadFile(filepath.Join(b.shots, e.Name())); err == nil {
			saveArtifact(b.t, e.Name(), data)
		}
	}
	b.t.Logf("%s: failure artifacts in %s", b.name, artifactsDir())
}

// copyFile copies src to dst.
func copyFile(src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, data, 0o644)
}

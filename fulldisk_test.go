package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServeOnAFullDisk runs serve on a real file system that fills up (a
// 3 MiB tmpfs; it needs root to mount one and skips otherwise): every write
// the disk has no room for is 503 storage_full with Retry-After, none a
// 500; what was answered 201 is all there and nothing else is; reads and
// searches keep working; once the disk has room again, writes, searches and signups
// work without a restart.
func TestServeOnAFullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs needs root")
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v %s", err, out)
	}
	t.Cleanup(func() {
		for range 50 { // serve may still be letting go of its files
			if exec.Command("umount", mnt).Run() == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Errorf("could not unmount %s", mnt)
	})
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var stderr syncBuffer
	go func() {
		done <- run(ctx, []string{"serve", "--addr", addr, "--data", filepath.Join(mnt, "data"), "--signup-limit", "0"}, &bytes.Buffer{}, &stderr)
	}()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("serve did not stop")
		}
	}()
	base := "http://" + addr
	waitReady(t, base, done)

	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Jar: jar}
	post := func(path string, body any) (int, http.Header, string) {
		t.Helper()
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		res, err := c.Post(base+path, "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out bytes.Buffer
		out.ReadFrom(res.Body) //nolint:errcheck // the status says enough
		return res.StatusCode, res.Header, out.String()
	}
	get := func(path string) (int, string) {
		t.Helper()
		res, err := c.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out bytes.Buffer
		out.ReadFrom(res.Body) //nolint:errcheck // the status says enough
		return res.StatusCode, out.String()
	}
	if code, _, body := post("/api/v1/signup", map[string]string{"username": "alice", "password": "correct horse battery"}); code != http.StatusCreated {
		t.Fatalf("signup: %d %s", code, body)
	}

	big := strings.Repeat("a note that fills the disk ", 8000) // ~210 KB
	saved, refused := 0, 0
	for i := range 40 {
		code, h, body := post("/api/v1/notes", map[string]string{"title": "kept", "body": big})
		switch {
		case code == http.StatusCreated:
			saved++
		case code == http.StatusServiceUnavailable && strings.Contains(body, `"storage_full"`) && h.Get("Retry-After") != "":
			refused++
		default:
			t.Fatalf("note %d on a filling disk: %d %s", i, code, body)
		}
	}
	if saved == 0 || refused == 0 {
		t.Fatalf("%d notes saved and %d refused; the disk should have filled part way", saved, refused)
	}
	if code, body := get("/api/v1/notes?limit=100"); code != http.StatusOK || strings.Count(body, `"id"`) != saved {
		t.Errorf("listing on a full disk: %d, %d notes; want 200 and %d", code, strings.Count(body, `"id"`), saved)
	}

	// The notes wait to be indexed, and the index has no room for them: the
	// search finds them all the same (notes.searchUnindexed).
	if code, body := get("/api/v1/notes?q=kept&limit=100"); code != http.StatusOK || strings.Count(body, `"id"`) != saved {
		t.Errorf("search on a full disk: %d, %d notes; want 200 and %d", code, strings.Count(body, `"id"`), saved)
	}

	if out, err := exec.Command("mount", "-o", "remount,size=64m", mnt).CombinedOutput(); err != nil {
		t.Fatalf("grow the tmpfs: %v %s", err, out)
	}
	if code, body := get("/api/v1/notes?q=kept&limit=100"); code != http.StatusOK || strings.Count(body, `"id"`) != saved {
		t.Errorf("search once there is room: %d, %d notes; want 200 and %d", code, strings.Count(body, `"id"`), saved)
	}
	if code, _, body := post("/api/v1/notes", map[string]string{"title": "room again"}); code != http.StatusCreated {
		t.Errorf("create once there is room: %d %s", code, body)
	}
	bob := &http.Client{}
	res, err := bob.Post(base+"/api/v1/signup", "application/json", strings.NewReader(`{"username":"bob","password":"correct horse battery"}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Errorf("signup once there is room: %d", res.StatusCode)
	}
	if logs := stderr.String(); strings.Contains(logs, "level=ERROR") {
		t.Errorf("errors logged (a full disk is a known condition, not a bug):\n%s", logs)
	}
}

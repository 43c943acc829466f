package auth

import (
	"bytes"
	"context"
	"database/sql"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

func openTestDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// The key is made once and read back after a restart (a new connection).
func TestDeviceKeyIsMadeOnceAndSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "routing.db")
	first, err := LoadDeviceKey(context.Background(), openTestDB(t, path))
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != DeviceKeyLen || bytes.Equal(first, make([]byte, DeviceKeyLen)) {
		t.Fatalf("key %x; want %d random bytes", first, DeviceKeyLen)
	}
	again, err := LoadDeviceKey(context.Background(), openTestDB(t, path))
	if err != nil || !bytes.Equal(again, first) {
		t.Fatalf("after a restart: key %x, %v; want %x", again, err, first)
	}
	other, err := LoadDeviceKey(context.Background(), openTestDB(t, filepath.Join(t.TempDir(), "routing.db")))
	if err != nil || bytes.Equal(other, first) {
		t.Fatalf("another server's key = %x, %v; want a different key", other, err)
	}
}

func newTestDevices(t *testing.T, key byte, now func() time.Time) *Devices {
	t.Helper()
	d, err := NewDevices(DevicesConfig{Key: bytes.Repeat([]byte{key}, DeviceKeyLen), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// requestWith is a request carrying the cookies a response set.
func requestWith(rec *httptest.ResponseRecorder) *http.Request {
	r := httptest.NewRequest("POST", "/login", nil)
	for _, c := range rec.Result().Cookies() {
		r.AddCookie(c)
	}
	return r
}

func TestDeviceCookieIsBoundSignedAndLongLived(t *testing.T) {
	clock := newFakeClock()
	d := newTestDevices(t, 1, clock.Now)
	rec := httptest.NewRecorder()
	d.Set(rec, "alice")
	cs := rec.Result().Cookies()
	if len(cs) != 1 || cs[0].Name != "device_alice" || !cs[0].HttpOnly || cs[0].MaxAge < 300*24*3600 {
		t.Fatalf("cookies %+v; want one long-lived HttpOnly device_alice", cs)
	}
	value := cs[0].Value
	r := requestWith(rec)
	forged := httptest.NewRequest("POST", "/login", nil)
	forged.AddCookie(&http.Cookie{Name: "device_bob", Value: value})
	tampered := httptest.NewRequest("POST", "/login", nil)
	tampered.AddCookie(&http.Cookie{Name: "device_alice", Value: strings.Replace(value, ".", ".1", 1)})
	tests := []struct {
		name string
		d    *Devices
		r    *http.Request
		user string
		want bool
	}{
		{"its own username", d, r, "alice", true},
		{"in another letter case", d, r, "ALICE", true},
		{"another username", d, r, "bob", false},
		{"alice's value under bob's name", d, forged, "bob", false},
		{"a changed issue time", d, tampered, "alice", false},
		{"another server's key", newTestDevices(t, 2, clock.Now), r, "alice", false},
		{"a malformed username", d, r, "al ice", false},
		{"no cookie", d, httptest.NewRequest("POST", "/login", nil), "alice", false},
	}
	for _, tt := range tests {
		if got := tt.d.Holds(tt.r, tt.user); got != tt.want {
			t.Errorf("%s: Holds = %v; want %v", tt.name, got, tt.want)
		}
	}
	clock.Advance(DeviceLifetime - time.Second)
	if !d.Holds(r, "alice") {
		t.Fatal("refused just before its lifetime ends")
	}
	clock.Advance(time.Second)
	if d.Holds(r, "alice") {
		t.Fatal("honoured after its lifetime")
	}
}

func TestNewDevicesRefusesAShortKey(t *testing.T) {
	if _, err := NewDevices(DevicesConfig{Key: make([]byte, DeviceKeyLen-1)}); err == nil {
		t.Fatal("NewDevices accepted a short key")
	}
}

// FuzzDeviceToken: no value, however malformed, panics or passes unless it
// is exactly what the server would have signed.
func FuzzDeviceToken(f *testing.F) {
	clock := newFakeClock()
	d, err := NewDevices(DevicesConfig{Key: bytes.Repeat([]byte{7}, DeviceKeyLen), Now: clock.Now})
	if err != nil {
		f.Fatal(err)
	}
	f.Add("alice", d.token("alice", clock.Now()))
	f.Add("alice", "v1.1.AAAA")
	f.Add("bob", "v1.-5."+strings.Repeat("A", 43))
	f.Add("x", "..")
	f.Fuzz(func(t *testing.T, name, token string) {
		if _, ok := d.issued(name, token); !ok {
			return
		}
		parts := strings.Split(token, ".")
		if len(parts) != 3 {
			t.Fatalf("accepted %q", token)
		}
		secs, err := strconv.ParseInt(parts[1], 10, 64)
		if err != nil || d.token(name, time.Unix(secs, 0)) != token {
			t.Fatalf("accepted %q for %q, which the server never signed", token, name)
		}
	})
}

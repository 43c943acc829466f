package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cubbyhq/cubby/tenant"
)

// Device cookies let a browser or client that has signed in to an account
// before keep logging in to it while the account is under a guessing attack
// from many addresses (OWASP's "device cookie" defence): see Throttle. One
// cookie per username, named DeviceCookiePrefix + the lower-cased username,
// whose value is "v1.<issued, Unix seconds>.<HMAC-SHA256>" over the username
// and issue time with a server key kept in routing.db.
const (
	// DeviceCookiePrefix begins the name of every device cookie.
	DeviceCookiePrefix = "device_"
	// DeviceLifetime is how long a device cookie is honoured after it was
	// issued; every login issues a fresh one.
	DeviceLifetime = 365 * 24 * time.Hour
	// DeviceKeyLen is the length of the server's device-cookie key.
	DeviceKeyLen = 32
	// maxDeviceTokenLen bounds the cookie values Holds looks at.
	maxDeviceTokenLen  = 128
	deviceTokenVersion = "v1"
)

// deviceKeyTable holds the one device-cookie key of the server.
const deviceKeyTable = `
CREATE TABLE IF NOT EXISTS device_key (
	id  INTEGER PRIMARY KEY CHECK (id = 1),
	key BLOB NOT NULL
)`

// LoadDeviceKey returns the server's device-cookie key from db (routing.db).
// The first call makes the table and a key of DeviceKeyLen bytes from
// crypto/rand; later calls, in this process or after a restart, return
// that same key, so device cookies outlive restarts.
func LoadDeviceKey(ctx context.Context, db *sql.DB) ([]byte, error) {
	if _, err := db.ExecContext(ctx, deviceKeyTable); err != nil {
		return nil, fmt.Errorf("create device key table: %w", err)
	}
	fresh := make([]byte, DeviceKeyLen)
	if _, err := rand.Read(fresh); err != nil {
		return nil, fmt.Errorf("make device key: %w", err)
	}
	if _, err := db.ExecContext(ctx, "INSERT OR IGNORE INTO device_key (id, key) VALUES (1, ?)", fresh); err != nil {
		return nil, fmt.Errorf("store device key: %w", err)
	}
	var key []byte
	if err := db.QueryRowContext(ctx, "SELECT key FROM device_key WHERE id = 1").Scan(&key); err != nil {
		return nil, fmt.Errorf("read device key: %w", err)
	}
	if len(key) != DeviceKeyLen {
		return nil, fmt.Errorf("device key in routing.db is %d bytes, want %d", len(key), DeviceKeyLen)
	}
	return key, nil
}

// DevicesConfig sets up Devices. Key is required.
type DevicesConfig struct {
	Key    []byte           // from LoadDeviceKey; at least DeviceKeyLen bytes
	Secure bool             // mark the cookie Secure (HTTPS only)
	Now    func() time.Time // the clock; time.Now
}

// Devices issues and checks device cookies.
type Devices struct {
	key    []byte
	secure bool
	now    func() time.Time
}

// NewDevices returns Devices signing with cfg.Key.
func NewDevices(cfg DevicesConfig) (*Devices, error) {
	if len(cfg.Key) < DeviceKeyLen {
		return nil, fmt.Errorf("auth: device key is %d bytes, want at least %d", len(cfg.Key), DeviceKeyLen)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Devices{key: cfg.Key, secure: cfg.Secure, now: cfg.Now}, nil
}

// Set gives the client a fresh device cookie for username (the stored,
// lower-cased name of an account it has just signed up to or logged in
// to): long-lived, HttpOnly, SameSite=Lax, and untouched by logout.
func (d *Devices) Set(w http.ResponseWriter, username string) {
	http.SetCookie(w, &http.Cookie{
		Name:     DeviceCookiePrefix + username,
		Value:    d.token(username, d.now()),
		Path:     "/",
		MaxAge:   int(DeviceLifetime / time.Second),
		HttpOnly: true,
		Secure:   d.secure,
		SameSite: http.SameSiteLaxMode,
	})
}

// Holds reports whether r carries a valid device cookie for username, in
// any letter case, issued to any account of that name. A malformed
// username holds none. It reads no database, so it is the cheap first
// check; HoldsAccount says whether the cookie is the current account's.
func (d *Devices) Holds(r *http.Request, username string) bool {
	return d.holdsSince(r, username, time.Time{})
}

// HoldsAccount reports whether r carries a valid device cookie for the
// account t: one for its username issued since t was made. A name is
// free again once its account is deleted, and a cookie issued to that
// earlier account (kept by whoever held it, or by someone who signed the
// name up and deleted it on purpose) is none of the next owner's devices.
// The issue time has whole seconds, so only a cookie issued in the very
// second the account was made could be mistaken for one of its own.
func (d *Devices) HoldsAccount(r *http.Request, t tenant.Tenant) bool {
	return d.holdsSince(r, t.Username, t.CreatedAt)
}

// holdsSince reports whether r carries a valid device cookie for username
// issued no earlier than the second of since.
func (d *Devices) holdsSince(r *http.Request, username string, since time.Time) bool {
	name, err := ValidateUsername(username)
	if err != nil {
		return false
	}
	for _, c := range r.CookiesNamed(DeviceCookiePrefix + name) {
		if issued, ok := d.issued(name, c.Value); ok && !issued.Before(since.Truncate(time.Second)) {
			return true
		}
	}
	return false
}

// token is the cookie value for name issued at t.
func (d *Devices) token(name string, t time.Time) string {
	issued := strconv.FormatInt(t.Unix(), 10)
	return deviceTokenVersion + "." + issued + "." + base64.RawURLEncoding.EncodeToString(d.mac(name, issued))
}

// mac signs name and its issue time; the NUL separators keep the fields
// apart, since neither can hold one.
func (d *Devices) mac(name, issued string) []byte {
	m := hmac.New(sha256.New, d.key)
	m.Write([]byte("cubby device\x00" + name + "\x00" + issued))
	return m.Sum(nil)
}

// issued returns when token was issued, and whether it is valid: a device
// cookie value for name that this server signed and that has not expired.
// Anything else, however malformed, is simply not valid.
func (d *Devices) issued(name, token string) (time.Time, bool) {
	if len(token) > maxDeviceTokenLen {
		return time.Time{}, false
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 || parts[0] != deviceTokenVersion {
		return time.Time{}, false
	}
	secs, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || strconv.FormatInt(secs, 10) != parts[1] {
		return time.Time{}, false // only the canonical form is ever signed
	}
	// Compared as text: base64 decoding skips CR and LF even when strict,
	// so a decoded comparison would take values the server never issued.
	want := base64.RawURLEncoding.EncodeToString(d.mac(name, parts[1]))
	if !hmac.Equal([]byte(parts[2]), []byte(want)) {
		return time.Time{}, false
	}
	issued := time.Unix(secs, 0)
	age := d.now().Sub(issued)
	return issued, age > -time.Minute && age < DeviceLifetime
}

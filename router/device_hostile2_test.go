package router

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/cubbyhq/cubby/auth"
)

// The finding: a device cookie named only its username, so it outlived the
// account it was issued for. Whoever once held a name (or signed it up and
// deleted it again, on purpose) kept, for a year, a cookie that let them
// past the per-username limit of every later account of that name, the
// very limit that stops guessing spread over many addresses. A device
// cookie now counts only for the account made before it was issued.
func TestADeviceCookieOfADeletedAccountDoesNotPassForTheNextOwnerOfItsName(t *testing.T) {
	r := newRig(t, rigOptions{})
	devicesAt := func(now func() time.Time) {
		d, err := auth.NewDevices(auth.DevicesConfig{Key: r.cfg.DeviceKey, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		r.app.devices = d
	}
	// An hour ago, mallory signed "bob" up, kept its device cookie, and
	// deleted the account, freeing the name.
	devicesAt(func() time.Time { return time.Now().Add(-time.Hour) })
	mallory := r.clientFrom("203.0.113.9:1")
	mallory.signup("bob", "mallory's password")
	old := mallory.devices["device_bob"]
	if old == nil {
		t.Fatal("signup set no device cookie")
	}
	if rec := mallory.do("DELETE", "/api/v1/account", `{"password":"mallory's password"}`); rec.Code != http.StatusNoContent {
		t.Fatalf("delete: %d %s", rec.Code, rec.Body)
	}
	// Now bob signs up under the free name, and is guessed at from many
	// addresses until only his own devices may try.
	devicesAt(time.Now)
	bob := r.client()
	bob.signup("bob", "bob's own password")
	mine := bob.devices["device_bob"]
	for i := range 50 {
		wantError(t, loginFrom(r, fmt.Sprintf("10.2.%d.%d:1", i/250, i%250), "bob", fmt.Sprint("guess ", i)), 401, "invalid_credentials")
	}
	wantError(t, loginFrom(r, "198.51.100.20:1", "bob", "guess 51"), 429, "too_many_attempts")
	// Mallory's old cookie is not one of bob's devices.
	wantError(t, loginFrom(r, "198.51.100.21:1", "bob", "guess 52", old), 429, "too_many_attempts")
	// Bob's own still is.
	if rec := loginFrom(r, "198.51.100.22:1", "bob", "bob's own password", mine); rec.Code != http.StatusOK {
		t.Fatalf("bob with his own device cookie: %d %s; want 200", rec.Code, rec.Body)
	}
}

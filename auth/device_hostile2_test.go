package auth

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/cubbyhq/cubby/tenant"
)

// A device cookie is one of an account's devices only if it was issued
// since the account was made: the name's earlier account, deleted since,
// gave out cookies that are none of the next owner's (Holds, which asks no
// database, still takes them as signed for the name).
func TestADeviceCookieCountsOnlyForAnAccountMadeBeforeIt(t *testing.T) {
	clock := newFakeClock()
	d := newTestDevices(t, 1, clock.Now)
	rec := httptest.NewRecorder()
	d.Set(rec, "bob")
	r := requestWith(rec)
	issued := clock.Now()
	tests := []struct {
		name    string
		created time.Time
		want    bool
	}{
		{"an account made a day before", issued.Add(-24 * time.Hour), true},
		{"an account made in the same second", issued.Add(500 * time.Millisecond), true},
		{"an account of the name made a second after", issued.Add(time.Second), false},
		{"an account of the name made a month after", issued.Add(30 * 24 * time.Hour), false},
	}
	clock.Advance(31 * 24 * time.Hour)
	for _, tt := range tests {
		account := tenant.Tenant{ID: "x", Username: "bob", CreatedAt: tt.created}
		if got := d.HoldsAccount(r, account); got != tt.want {
			t.Errorf("%s: HoldsAccount = %v; want %v", tt.name, got, tt.want)
		}
	}
	if !d.Holds(r, "bob") {
		t.Error("Holds refused a cookie signed for the name")
	}
	if d.HoldsAccount(r, tenant.Tenant{ID: "y", Username: "alice", CreatedAt: issued.Add(-time.Hour)}) {
		t.Error("bob's cookie passed for alice's account")
	}
}

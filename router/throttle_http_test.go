package router

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/cubbyhq/cubby/auth"
)

// loginFrom sends a JSON login from addr (host:port), with cookies.
func loginFrom(r *rig, addr, name, password string, cookies ...*http.Cookie) *httptest.ResponseRecorder {
	req := httptest.NewRequest("POST", "/api/v1/login",
		strings.NewReader(fmt.Sprintf(`{"username":%q,"password":%q}`, name, password)))
	req.RemoteAddr = addr
	for _, c := range cookies {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	r.handler.ServeHTTP(rec, req)
	return rec
}

// deviceCookies are the device cookies rec set.
func deviceCookies(rec *httptest.ResponseRecorder) []*http.Cookie {
	var out []*http.Cookie
	for _, c := range rec.Result().Cookies() {
		if strings.HasPrefix(c.Name, "device_") {
			out = append(out, c)
		}
	}
	return out
}

// The finding: ten wrong passwords for alice from anywhere made her right
// password answer 429 from everywhere. Now they lock only that address out
// of her account.
func TestWrongPasswordsFromOneAddressDoNotLockTheOwnerOut(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.client().signup("alice", "correct horse")
	for range 10 {
		wantError(t, loginFrom(r, "203.0.113.66:5000", "alice", "wrong horse"), 401, "invalid_credentials")
	}
	rec := loginFrom(r, "203.0.113.66:5001", "ALICE", "correct horse")
	wantError(t, rec, 429, "too_many_attempts")
	if s, err := strconv.Atoi(rec.Header().Get("Retry-After")); err != nil || s < 1 || s > 15*60 {
		t.Fatalf("Retry-After %q", rec.Header().Get("Retry-After"))
	}
	if rec := loginFrom(r, "198.51.100.7:5000", "alice", "correct horse"); rec.Code != http.StatusOK {
		t.Fatalf("the owner from her own address: %d %s; want 200", rec.Code, rec.Body)
	}
	if rec := loginFrom(r, "203.0.113.66:5002", "bob", "anything at all"); rec.Code != http.StatusUnauthorized {
		t.Fatalf("another username from the guessing address: %d; want 401", rec.Code)
	}
}

// One address spraying many usernames is stopped at 100 failures, for
// every login from it.
func TestAddressIsThrottledAfterAHundredFailures(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.client().signup("alice", "correct horse")
	for i := range 100 {
		wantError(t, loginFrom(r, "203.0.113.5:1", fmt.Sprint("user", i), "wrong horse"), 401, "invalid_credentials")
	}
	wantError(t, loginFrom(r, "203.0.113.5:1", "alice", "correct horse"), 429, "too_many_attempts")
	if rec := loginFrom(r, "203.0.113.6:1", "alice", "correct horse"); rec.Code != http.StatusOK {
		t.Fatalf("alice from another address: %d; want 200", rec.Code)
	}
}

// Guessing spread over many addresses closes the account to everyone
// without a device cookie for it; the owner's browser, which got one at
// signup and kept it across logout, still gets in. A cookie for another
// account does not help.
func TestDeviceCookieLetsTheOwnerPastADistributedAttack(t *testing.T) {
	r := newRig(t, rigOptions{})
	owner := r.client()
	owner.signup("alice", "correct horse")
	if rec := owner.do("POST", "/api/v1/logout", nil); rec.Code != http.StatusNoContent {
		t.Fatalf("logout: %d", rec.Code)
	}
	aliceDevice := owner.devices["device_alice"]
	if aliceDevice == nil || !aliceDevice.HttpOnly || aliceDevice.MaxAge < 30*24*3600 {
		t.Fatalf("device cookie after signup and logout: %+v; want a long-lived HttpOnly one", aliceDevice)
	}
	bob := r.client()
	bob.signup("bob", "battery staple")
	bobDevice := bob.devices["device_bob"]
	for i := range 50 {
		loginFrom(r, fmt.Sprintf("10.1.%d.%d:1", i/250, i%250), "alice", fmt.Sprint("guess ", i))
	}
	wantError(t, loginFrom(r, "198.51.100.7:1", "alice", "correct horse"), 429, "too_many_attempts")
	wantError(t, loginFrom(r, "198.51.100.7:1", "alice", "correct horse", bobDevice), 429, "too_many_attempts")
	forged := &http.Cookie{Name: "device_alice", Value: bobDevice.Value}
	wantError(t, loginFrom(r, "198.51.100.7:1", "alice", "correct horse", forged), 429, "too_many_attempts")
	rec := loginFrom(r, "198.51.100.7:1", "alice", "correct horse", aliceDevice)
	if rec.Code != http.StatusOK {
		t.Fatalf("the owner's browser with its device cookie: %d %s; want 200", rec.Code, rec.Body)
	}
	if len(deviceCookies(rec)) != 1 {
		t.Fatal("a login did not renew the device cookie")
	}
	// The HTML login honours it too.
	form := r.clientFrom("198.51.100.8:1")
	form.devices["device_alice"] = aliceDevice
	wantRedirect(t, form.form("/login", "username", "alice", "password", "correct horse"), "/notes")
}

// The client address comes from X-Forwarded-For only behind a trusted
// proxy: there, clients are throttled apart; elsewhere the header is
// ignored, so a client cannot pick a fresh address per guess.
func TestTrustedProxyClientsAreThrottledApart(t *testing.T) {
	proxies, err := ParseTrustedProxies("10.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	r := newRig(t, rigOptions{trustedProxies: proxies})
	r.client().signup("alice", "correct horse")
	via := func(peer, xff, password string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", "/api/v1/login",
			strings.NewReader(`{"username":"alice","password":"`+password+`"}`))
		req.RemoteAddr, req.Header["X-Forwarded-For"] = peer, []string{xff}
		rec := httptest.NewRecorder()
		r.handler.ServeHTTP(rec, req)
		return rec
	}
	for i := range 10 {
		via("10.0.0.1:443", fmt.Sprintf("198.51.100.%d, 203.0.113.66", i), "wrong horse")
	}
	wantError(t, via("10.0.0.1:443", "203.0.113.66", "correct horse"), 429, "too_many_attempts")
	if rec := via("10.0.0.1:443", "192.0.2.7", "correct horse"); rec.Code != http.StatusOK {
		t.Fatalf("another client behind the proxy: %d; want 200", rec.Code)
	}
	// Not from a trusted proxy: X-Forwarded-For is ignored.
	for i := range 10 {
		via("203.0.113.99:1", fmt.Sprint("198.51.100.", i), "wrong horse")
	}
	wantError(t, via("203.0.113.99:1", "198.51.100.200", "correct horse"), 429, "too_many_attempts")
}

func TestRequestLogCarriesTheClientAddress(t *testing.T) {
	proxies, _ := ParseTrustedProxies("10.0.0.0/8")
	r := newRig(t, rigOptions{trustedProxies: proxies})
	req := httptest.NewRequest("GET", "/healthz", nil)
	req.RemoteAddr = "10.0.0.1:443"
	req.Header.Set("X-Forwarded-For", "203.0.113.8")
	r.handler.ServeHTTP(httptest.NewRecorder(), req)
	if !strings.Contains(r.logs.String(), "client=203.0.113.8 ") {
		t.Fatalf("request log lacks client=203.0.113.8:\n%s", r.logs.String())
	}
}

// Past the signup limit, both signup paths answer 429 and make nothing.
func TestSignupLimitPerClientAddress(t *testing.T) {
	r := newRig(t, rigOptions{signupLimit: 2})
	for i := range 2 {
		r.clientFrom("203.0.113.5:1").signup(fmt.Sprint("user", i), "correct horse")
	}
	rec := r.clientFrom("203.0.113.5:2").do("POST", "/api/v1/signup", `{"username":"user9","password":"correct horse"}`)
	wantError(t, rec, 429, "too_many_attempts")
	if s, err := strconv.Atoi(rec.Header().Get("Retry-After")); err != nil || s < 1 || s > 3600 {
		t.Fatalf("Retry-After %q", rec.Header().Get("Retry-After"))
	}
	form := r.clientFrom("203.0.113.5:3")
	rec = form.form("/signup", "username", "user9", "password", "correct horse")
	wantPage(t, rec, 429, `value="user9"`, "too many accounts made from your address")
	if rec.Header().Get("Retry-After") == "" || form.cookie != nil {
		t.Fatal("HTML signup past the limit: no Retry-After, or signed in")
	}
	if n, err := r.pool.Directory().Count(t.Context()); err != nil || n != 2 {
		t.Fatalf("%d accounts (err %v); want 2", n, err)
	}
	r.clientFrom("203.0.113.6:1").signup("user9", "correct horse")
}

// A login refused because the hashing queue stayed full is 503 busy with
// a Retry-After, wherever the error was wrapped.
func TestHashingQueueFullIsBusy(t *testing.T) {
	p := classify(fmt.Errorf("account x: verify password: wait for hashing slot 2s: %w", auth.ErrBusy))
	if httpStatus(p.code) != http.StatusServiceUnavailable || p.code != "busy" || p.retryAfter <= 0 {
		t.Fatalf("classify = %+v; want 503 busy with a Retry-After", p)
	}
}

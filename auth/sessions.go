package auth

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/alexedwards/scs/v2"
)

// The session cookie's name and lifetimes.
const (
	SessionCookie      = "session"
	SessionLifetime    = 30 * 24 * time.Hour // from sign-in, whatever happens
	SessionIdleTimeout = 7 * 24 * time.Hour  // without a request
)

// SessionsConfig sets up Sessions. Store is required: a *SessionStore, or
// any SessionBackend (cluster mode keeps sessions in etcd).
type SessionsConfig struct {
	Store SessionBackend
	// Secure marks the cookie Secure (only sent over HTTPS).
	Secure bool
	// OnError answers a request whose session could not be loaded or
	// saved (default: a plain 500).
	OnError func(http.ResponseWriter, *http.Request, error)
}

// Sessions says which tenant, if any, a request is signed in as. It is an
// scs.SessionManager over a SessionStore, with cubby's cookie: named
// "session", HttpOnly, SameSite=Lax, Secure on request.
type Sessions struct {
	sm *scs.SessionManager
	// values is Store, if it can be read without scs (see sessionState).
	values sessionValues
}

// NewSessions returns Sessions over cfg.Store.
func NewSessions(cfg SessionsConfig) *Sessions {
	sm := scs.New()
	sm.Store = cfg.Store
	sm.Codec = SessionCodec{}
	sm.Lifetime = SessionLifetime
	// The store keeps the idle timeout (SessionStoreConfig.IdleTimeout):
	// an scs IdleTimeout would commit the session and set the cookie again
	// on every request.
	sm.IdleTimeout = 0
	sm.Cookie.Name = SessionCookie
	sm.Cookie.HttpOnly = true
	sm.Cookie.SameSite = http.SameSiteLaxMode
	sm.Cookie.Secure = cfg.Secure
	sm.Cookie.Path = "/"
	if cfg.OnError != nil {
		sm.ErrorFunc = cfg.OnError
	}
	values, _ := cfg.Store.(sessionValues)
	return &Sessions{sm: sm, values: values}
}

// SignIn makes the request's session belong to tenant id, under a new token
// so that a token known before sign-in is worthless after it.
func (s *Sessions) SignIn(ctx context.Context, id string) error {
	ctx, err := s.scsContext(ctx)
	if err != nil {
		return err
	}
	if err := s.sm.RenewToken(ctx); err != nil {
		return fmt.Errorf("renew session token: %w", err)
	}
	s.sm.Put(ctx, SessionTenantKey, id)
	return nil
}

// SignOut ends the request's session: it is deleted from the store, so its
// token is refused from now on, and the cookie is cleared. Without a
// session it does nothing harmful.
func (s *Sessions) SignOut(ctx context.Context) error {
	ctx, err := s.scsContext(ctx)
	if err != nil {
		return err
	}
	if err := s.sm.Destroy(ctx); err != nil {
		return fmt.Errorf("destroy session: %w", err)
	}
	return nil
}

// TenantID is the id of the tenant the request is signed in as, or "".
func (s *Sessions) TenantID(ctx context.Context) string {
	st := s.state(ctx)
	if st == nil {
		return s.sm.GetString(ctx, SessionTenantKey)
	}
	if ctx := st.loadedContext(); ctx != nil {
		return s.sm.GetString(ctx, SessionTenantKey)
	}
	id, _ := st.values[SessionTenantKey].(string)
	return id
}

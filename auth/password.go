package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/argon2"
)

// ErrMalformedHash reports a stored password hash that is not a PHC argon2id
// string this package can verify. It means a damaged account row, never a
// wrong password.
var ErrMalformedHash = errors.New("auth: malformed password hash")

// Bounds on the parameters read back from a stored hash. They keep a hostile
// or damaged string from making Verify allocate gigabytes or spin for
// minutes; NewHasher refuses parameters outside them, since hashes made with
// such parameters could never be verified.
const (
	maxEncodedLen = 512
	maxTime       = 16
	maxMemoryKiB  = 256 * 1024
	maxThreads    = 16
	minSaltLen    = 8
	maxSaltLen    = 64
	minKeyLen     = 16
	maxKeyLen     = 64
)

// Params are the argon2id cost parameters and output sizes of a hash.
type Params struct {
	Time      uint32 // passes over memory
	MemoryKiB uint32 // memory per hash, in KiB
	Threads   uint8  // lanes computed in parallel
	SaltLen   uint32 // random salt length, in bytes
	KeyLen    uint32 // derived key length, in bytes
}

// DefaultParams returns the production parameters: t=2, m=19 MiB, p=1, a
// 16-byte salt and a 32-byte key (the OWASP argon2id baseline).
func DefaultParams() Params {
	return Params{Time: 2, MemoryKiB: 19 * 1024, Threads: 1, SaltLen: 16, KeyLen: 32}
}

// validate reports whether p lies within the bounds Verify accepts.
func (p Params) validate() error {
	switch {
	case p.Time < 1 || p.Time > maxTime:
		return fmt.Errorf("time %d outside 1..%d", p.Time, maxTime)
	case p.Threads < 1 || p.Threads > maxThreads:
		return fmt.Errorf("threads %d outside 1..%d", p.Threads, maxThreads)
	case p.MemoryKiB < 8*uint32(p.Threads) || p.MemoryKiB > maxMemoryKiB:
		return fmt.Errorf("memory %d KiB outside %d..%d", p.MemoryKiB, 8*uint32(p.Threads), maxMemoryKiB)
	case p.SaltLen < minSaltLen || p.SaltLen > maxSaltLen:
		return fmt.Errorf("salt length %d outside %d..%d", p.SaltLen, minSaltLen, maxSaltLen)
	case p.KeyLen < minKeyLen || p.KeyLen > maxKeyLen:
		return fmt.Errorf("key length %d outside %d..%d", p.KeyLen, minKeyLen, maxKeyLen)
	}
	return nil
}

// DefaultMaxWait is how long a password waits for a hashing slot before
// the Hasher gives up with ErrBusy.
const DefaultMaxWait = 2 * time.Second

// Hasher hashes and verifies passwords with argon2id. At most a fixed number
// of hashes run at once, so a flood of logins queues instead of exhausting
// memory (each hash holds Params.MemoryKiB while it runs), and a password
// waits at most a bounded time for its turn (ErrBusy after that), so a flood
// cannot make everyone else's login wait without end. It is safe for
// concurrent use.
type Hasher struct {
	params  Params
	sem     chan struct{}
	maxWait time.Duration
	dummy   string
	// derive computes the key; tests replace it to observe concurrency.
	derive func(password, salt []byte, p Params) []byte
}

// HasherOption changes a Hasher made by NewHasher.
type HasherOption func(*Hasher)

// WithMaxWait bounds how long a password waits for a hashing slot before
// Hash, Verify or Dummy give up with ErrBusy (DefaultMaxWait otherwise).
func WithMaxWait(d time.Duration) HasherOption {
	return func(h *Hasher) {
		if d > 0 {
			h.maxWait = d
		}
	}
}

// NewHasher returns a Hasher that makes new hashes with p and runs at most
// concurrency hashes at once (runtime.GOMAXPROCS(0) when concurrency <= 0).
// It computes one dummy hash up front for [Hasher.Dummy]. NewHasher panics if
// p is outside the bounds Verify accepts: that is a wiring mistake, and hashes
// made with such parameters could never be verified.
func NewHasher(p Params, concurrency int, opts ...HasherOption) *Hasher {
	if err := p.validate(); err != nil {
		panic("auth: NewHasher: invalid params: " + err.Error())
	}
	if concurrency <= 0 {
		concurrency = runtime.GOMAXPROCS(0)
	}
	h := &Hasher{params: p, sem: make(chan struct{}, concurrency), maxWait: DefaultMaxWait, derive: deriveArgon2id}
	for _, o := range opts {
		o(h)
	}
	h.dummy = h.encode(p, make([]byte, p.SaltLen), []byte("cubby dummy password"))
	return h
}

// deriveArgon2id is the real key derivation.
func deriveArgon2id(password, salt []byte, p Params) []byte {
	return argon2.IDKey(password, salt, p.Time, p.MemoryKiB, p.Threads, p.KeyLen)
}

// Hash returns the PHC string of password under the Hasher's parameters, for
// example "$argon2id$v=19$m=19456,t=2,p=1$<salt>$<key>". It waits for a free
// slot and gives up with ctx's error if ctx ends first, or with ErrBusy past
// the Hasher's maximum wait.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	salt := make([]byte, h.params.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: read salt: %w", err)
	}
	if err := h.acquire(ctx); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	defer h.release()
	return h.encode(h.params, salt, []byte(password)), nil
}

// Verify reports whether password matches encoded, a PHC string made by Hash
// with any parameters within bounds, so hashes made before a parameter change
// still verify. A malformed string gives an error wrapping ErrMalformedHash;
// a wrong password gives false and no error.
func (h *Hasher) Verify(ctx context.Context, password, encoded string) (bool, error) {
	p, salt, want, err := decodeHash(encoded)
	if err != nil {
		return false, fmt.Errorf("verify password: %w", err)
	}
	if err := h.acquire(ctx); err != nil {
		return false, fmt.Errorf("verify password: %w", err)
	}
	defer h.release()
	got := h.derive([]byte(password), salt, p)
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// Dummy verifies password against a fixed hash made with the Hasher's
// parameters and throws the answer away. Call it for an unknown username so
// that the request costs the same as a wrong password. It returns only ctx's
// error when ctx ends before a slot is free, or ErrBusy when none is free
// within the Hasher's maximum wait.
func (h *Hasher) Dummy(ctx context.Context, password string) error {
	if _, err := h.Verify(ctx, password, h.dummy); err != nil {
		return fmt.Errorf("dummy hash: %w", err)
	}
	return nil
}

// acquire takes a hashing slot, or returns ctx's error if ctx ends first, or
// ErrBusy when no slot frees up within h.maxWait. An already-ended ctx
// always fails, even when a slot is free.
func (h *Hasher) acquire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("wait for hashing slot: %w", err)
	}
	select {
	case h.sem <- struct{}{}:
		return nil
	default:
	}
	timer := time.NewTimer(h.maxWait)
	defer timer.Stop()
	select {
	case h.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait for hashing slot: %w", ctx.Err())
	case <-timer.C:
		return fmt.Errorf("wait for hashing slot %s: %w", h.maxWait, ErrBusy)
	}
}

// release gives back a slot taken by acquire.
func (h *Hasher) release() { <-h.sem }

// encode derives the key of password and formats the PHC string.
func (h *Hasher) encode(p Params, salt, password []byte) string {
	key := h.derive(password, salt, p)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.MemoryKiB, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

// decodeHash parses a PHC argon2id string, checking every field against the
// bounds so that no input can make the caller allocate or compute much.
func decodeHash(encoded string) (Params, []byte, []byte, error) {
	var p Params
	if len(encoded) > maxEncodedLen {
		return p, nil, nil, fmt.Errorf("%w: longer than %d bytes", ErrMalformedHash, maxEncodedLen)
	}
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, fmt.Errorf("%w: not a $argon2id$ PHC string", ErrMalformedHash)
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, nil, nil, fmt.Errorf("%w: unsupported version %q", ErrMalformedHash, parts[2])
	}
	p, err := parseCost(parts[3])
	if err != nil {
		return p, nil, nil, fmt.Errorf("%w: %w", ErrMalformedHash, err)
	}
	b64 := base64.RawStdEncoding.Strict()
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return p, nil, nil, fmt.Errorf("%w: salt: %w", ErrMalformedHash, err)
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil {
		return p, nil, nil, fmt.Errorf("%w: key: %w", ErrMalformedHash, err)
	}
	p.SaltLen, p.KeyLen = uint32(len(salt)), uint32(len(key))
	if err := p.validate(); err != nil {
		return p, nil, nil, fmt.Errorf("%w: %w", ErrMalformedHash, err)
	}
	return p, salt, key, nil
}

// parseCost parses "m=<KiB>,t=<passes>,p=<threads>", in that order. Bounds are
// checked later, by Params.validate.
func parseCost(s string) (Params, error) {
	var p Params
	fields := strings.Split(s, ",")
	if len(fields) != 3 {
		return p, fmt.Errorf("cost %q: want m=,t=,p=", s)
	}
	var vals [3]uint64
	for i, name := range []string{"m=", "t=", "p="} {
		digits, ok := strings.CutPrefix(fields[i], name)
		if !ok {
			return p, fmt.Errorf("cost %q: want %s first in field %d", s, name, i+1)
		}
		v, err := strconv.ParseUint(digits, 10, 32)
		if err != nil {
			return p, fmt.Errorf("cost %q: %w", s, err)
		}
		vals[i] = v
	}
	if vals[2] > maxThreads {
		return p, fmt.Errorf("cost %q: threads above %d", s, maxThreads)
	}
	p.MemoryKiB, p.Time, p.Threads = uint32(vals[0]), uint32(vals[1]), uint8(vals[2])
	return p, nil
}

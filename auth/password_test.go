package auth

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testParams are parameters cheap enough for tests (64 KiB, one pass); the
// tests of other packages get the same from authtest.Params.
func testParams() Params {
	return Params{Time: 1, MemoryKiB: 64, Threads: 1, SaltLen: 16, KeyLen: 32}
}

func TestHashFormatIsPHCArgon2id(t *testing.T) {
	h := NewHasher(testParams(), 1)
	got, err := h.Hash(context.Background(), "correct horse")
	if err != nil {
		t.Fatalf("Hash: %v", err)
	}
	re := regexp.MustCompile(`^\$argon2id\$v=19\$m=64,t=1,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)
	if !re.MatchString(got) {
		t.Fatalf("Hash = %q, want PHC argon2id string", got)
	}
	again, err := h.Hash(context.Background(), "correct horse")
	if err != nil {
		t.Fatalf("Hash: %v", err)
	}
	if again == got {
		t.Fatal("two hashes of one password are equal: salt is not random")
	}
}

func TestDefaultParamsEncodeAsDocumented(t *testing.T) {
	p := DefaultParams()
	want := Params{Time: 2, MemoryKiB: 19456, Threads: 1, SaltLen: 16, KeyLen: 32}
	if p != want {
		t.Fatalf("DefaultParams() = %+v, want %+v", p, want)
	}
	if err := p.validate(); err != nil {
		t.Fatalf("DefaultParams outside bounds: %v", err)
	}
}

func TestVerify(t *testing.T) {
	ctx := context.Background()
	h := NewHasher(testParams(), 2)
	stored, err := h.Hash(ctx, "correct horse")
	if err != nil {
		t.Fatalf("Hash: %v", err)
	}
	// A hash made with other parameters must still verify: Verify reads them
	// from the string.
	old := NewHasher(Params{Time: 2, MemoryKiB: 32, Threads: 2, SaltLen: 8, KeyLen: 16}, 1)
	oldStored, err := old.Hash(ctx, "battery staple")
	if err != nil {
		t.Fatalf("Hash: %v", err)
	}
	tests := []struct {
		name     string
		password string
		encoded  string
		want     bool
	}{
		{"right password", "correct horse", stored, true},
		{"wrong password", "correct horsE", stored, false},
		{"empty password", "", stored, false},
		{"old params right password", "battery staple", oldStored, true},
		{"old params wrong password", "battery stapler", oldStored, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := h.Verify(ctx, tt.password, tt.encoded)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if got != tt.want {
				t.Fatalf("Verify = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestVerifyRejectsMalformedHash(t *testing.T) {
	const salt = "c2FsdHNhbHRzYWx0c2FsdA"                     // 16 bytes
	const key = "a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U" // 32 bytes
	tests := []struct {
		name    string
		encoded string
	}{
		{"empty", ""},
		{"bcrypt", "$2a$10$abcdefghijklmnopqrstuv"},
		{"argon2i", "$argon2i$v=19$m=64,t=1,p=1$" + salt + "$" + key},
		{"old version", "$argon2id$v=16$m=64,t=1,p=1$" + salt + "$" + key},
		{"missing field", "$argon2id$v=19$m=64,t=1,p=1$" + salt},
		{"extra field", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key + "$x"},
		{"cost order", "$argon2id$v=19$t=1,m=64,p=1$" + salt + "$" + key},
		{"cost sign", "$argon2id$v=19$m=+64,t=1,p=1$" + salt + "$" + key},
		{"huge memory", "$argon2id$v=19$m=4294967295,t=1,p=1$" + salt + "$" + key},
		{"memory over 32 bits", "$argon2id$v=19$m=99999999999,t=1,p=1$" + salt + "$" + key},
		{"huge time", "$argon2id$v=19$m=64,t=1000000,p=1$" + salt + "$" + key},
		{"zero time", "$argon2id$v=19$m=64,t=0,p=1$" + salt + "$" + key},
		{"zero threads", "$argon2id$v=19$m=64,t=1,p=0$" + salt + "$" + key},
		{"threads over 8 bits", "$argon2id$v=19$m=4096,t=1,p=257$" + salt + "$" + key},
		{"memory below 8 per thread", "$argon2id$v=19$m=8,t=1,p=2$" + salt + "$" + key},
		{"short salt", "$argon2id$v=19$m=64,t=1,p=1$c2FsdA$" + key},
		{"short key", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$a2V5"},
		{"padded base64", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "==$" + key},
		{"bad base64", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$!!!!"},
		{"too long", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + strings.Repeat("A", 1000)},
	}
	if _, _, _, err := decodeHash("$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key); err != nil {
		t.Fatalf("control hash does not parse: %v", err)
	}
	h := NewHasher(testParams(), 1)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := h.Verify(context.Background(), "password", tt.encoded)
			if !errors.Is(err, ErrMalformedHash) {
				t.Fatalf("Verify error = %v, want ErrMalformedHash", err)
			}
			if ok {
				t.Fatal("Verify = true for a malformed hash")
			}
		})
	}
}

func TestDummyRunsTheSameWork(t *testing.T) {
	h := NewHasher(testParams(), 1)
	var calls atomic.Int32
	var got Params
	h.derive = func(password, salt []byte, p Params) []byte {
		calls.Add(1)
		got = p
		return deriveArgon2id(password, salt, p)
	}
	if err := h.Dummy(context.Background(), "whatever"); err != nil {
		t.Fatalf("Dummy: %v", err)
	}
	if calls.Load() != 1 || got != testParams() {
		t.Fatalf("Dummy derived %d keys with %+v, want 1 with %+v", calls.Load(), got, testParams())
	}
}

func TestNewHasherPanicsOnUnverifiableParams(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("NewHasher accepted 1 GiB of memory, above what Verify accepts")
		}
	}()
	NewHasher(Params{Time: 1, MemoryKiB: 1 << 20, Threads: 1, SaltLen: 16, KeyLen: 32}, 1)
}

func TestHashHonoursCancelledContext(t *testing.T) {
	h := NewHasher(testParams(), 1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.Hash(ctx, "password"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Hash error = %v, want context.Canceled", err)
	}
	if _, err := h.Verify(ctx, "password", h.dummy); !errors.Is(err, context.Canceled) {
		t.Fatalf("Verify error = %v, want context.Canceled", err)
	}
}

// gate is a key derivation that blocks until released, recording how many
// derivations run at once.
type gate struct {
	entered        chan struct{}
	release        chan struct{}
	inflight, peak atomic.Int32
}

func newGate(capacity int) *gate {
	return &gate{entered: make(chan struct{}, capacity), release: make(chan struct{})}
}

func (g *gate) derive(password, salt []byte, p Params) []byte {
	n := g.inflight.Add(1)
	for {
		old := g.peak.Load()
		if n <= old || g.peak.CompareAndSwap(old, n) {
			break
		}
	}
	g.entered <- struct{}{}
	<-g.release
	g.inflight.Add(-1)
	return make([]byte, p.KeyLen)
}

// TestHashConcurrencyIsBounded fills every slot with hashes blocked inside the
// key derivation, then shows that a further caller waits for a slot (it can
// be cancelled while waiting) and that no more than the limit ever run.
func TestHashConcurrencyIsBounded(t *testing.T) {
	const limit, callers = 2, 8
	h := NewHasher(testParams(), limit, WithMaxWait(time.Hour))
	g := newGate(callers + 1)
	h.derive = g.derive

	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			if _, err := h.Hash(context.Background(), "password"); err != nil {
				t.Errorf("Hash: %v", err)
			}
		})
	}
	for range limit {
		<-g.entered
	}

	// Every slot is held: one more caller must wait, so cancelling it makes it
	// return context.Canceled without ever entering the derivation.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := h.Hash(ctx, "password")
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("waiting Hash error = %v, want context.Canceled", err)
		}
	case <-g.entered:
		t.Fatalf("a hash beyond the limit of %d entered the derivation", limit)
	}

	for range callers - limit {
		g.release <- struct{}{}
		<-g.entered
	}
	for range limit {
		g.release <- struct{}{}
	}
	wg.Wait()
	if got := g.peak.Load(); got != limit {
		t.Fatalf("peak concurrent hashes = %d, want %d", got, limit)
	}
}

// A password that finds every slot taken waits only the maximum wait, then
// gives up with ErrBusy without entering the derivation.
func TestHashGivesUpBusyPastTheMaxWait(t *testing.T) {
	h := NewHasher(testParams(), 1, WithMaxWait(time.Millisecond))
	g := newGate(4)
	h.derive = g.derive
	held := make(chan error, 1)
	go func() {
		_, err := h.Hash(context.Background(), "password")
		held <- err
	}()
	<-g.entered // the one slot is taken until released
	if _, err := h.Hash(context.Background(), "password"); !errors.Is(err, ErrBusy) {
		t.Errorf("Hash = %v; want ErrBusy", err)
	}
	if _, err := h.Verify(context.Background(), "password", h.dummy); !errors.Is(err, ErrBusy) {
		t.Errorf("Verify = %v; want ErrBusy", err)
	}
	if err := h.Dummy(context.Background(), "password"); !errors.Is(err, ErrBusy) {
		t.Errorf("Dummy = %v; want ErrBusy", err)
	}
	if n := g.peak.Load(); n != 1 {
		t.Errorf("%d derivations ran at once; want 1", n)
	}
	g.release <- struct{}{}
	if err := <-held; err != nil {
		t.Fatalf("the hash holding the slot: %v", err)
	}
}

func TestHasherMaxWaitDefaultsToTwoSeconds(t *testing.T) {
	if h := NewHasher(testParams(), 1); h.maxWait != 2*time.Second {
		t.Fatalf("max wait %v; want 2s", h.maxWait)
	}
}

func FuzzDecodeHash(f *testing.F) {
	h := NewHasher(testParams(), 1)
	good, err := h.Hash(context.Background(), "password")
	if err != nil {
		f.Fatalf("Hash: %v", err)
	}
	for _, s := range []string{good, "", "$argon2id$v=19$m=4294967295,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA", "$$$$$"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, salt, key, err := decodeHash(s)
		if err != nil {
			if !errors.Is(err, ErrMalformedHash) {
				t.Fatalf("decodeHash(%q) error %v does not wrap ErrMalformedHash", s, err)
			}
			return
		}
		if err := p.validate(); err != nil {
			t.Fatalf("decodeHash(%q) accepted out-of-bounds params: %v", s, err)
		}
		if int(p.SaltLen) != len(salt) || int(p.KeyLen) != len(key) {
			t.Fatalf("decodeHash(%q): params %+v disagree with salt %d, key %d bytes", s, p, len(salt), len(key))
		}
	})
}

package auth

import (
	"errors"
	"regexp"
	"strings"
	"testing"
)

// usernameRule is the contract's username rule, written independently of
// ValidateUsername so that the fuzz target checks one against the other.
var usernameRule = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{2,31}$`)

func TestValidateUsername(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // "" means rejected
	}{
		{"lower", "alice", "alice"},
		{"mixed case lowered", "AlIcE", "alice"},
		{"digits first", "9lives", "9lives"},
		{"underscore and dash", "a_b-c", "a_b-c"},
		{"shortest", "abc", "abc"},
		{"longest", strings.Repeat("x", 32), strings.Repeat("x", 32)},
		{"too short", "ab", ""},
		{"too long", strings.Repeat("x", 33), ""},
		{"empty", "", ""},
		{"starts with underscore", "_alice", ""},
		{"starts with dash", "-alice", ""},
		{"space", "al ice", ""},
		{"dot", "al.ice", ""},
		{"slash", "../etc", ""},
		{"nul byte", "ali\x00ce", ""},
		{"kelvin sign", "\u212Aelvin", ""},
		{"kelvin sign inside", "a\u212Ab", ""},
		{"latin capital with dot", "\u0130stanbul", ""},
		{"fullwidth letter", "ａlice", ""},
		{"invalid utf-8", "ab\xffc", ""},
		{"non-ascii of ascii length", "aé", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ValidateUsername(tt.in)
			if tt.want == "" {
				if !errors.Is(err, ErrInvalidUsername) {
					t.Fatalf("ValidateUsername(%q) = %q, %v; want ErrInvalidUsername", tt.in, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ValidateUsername(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestValidatePassword(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"empty", "", false},
		{"seven bytes", "1234567", false},
		{"eight bytes", "12345678", true},
		{"spaces count", "        ", true},
		{"multibyte counts bytes", "ééé", false},
		{"multibyte eight bytes", "éééé", true},
		{"1024 bytes", strings.Repeat("p", 1024), true},
		{"1025 bytes", strings.Repeat("p", 1025), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidatePassword(tt.in)
			if tt.ok && err != nil {
				t.Fatalf("ValidatePassword(%d bytes) = %v, want nil", len(tt.in), err)
			}
			if !tt.ok && !errors.Is(err, ErrWeakPassword) {
				t.Fatalf("ValidatePassword(%d bytes) = %v, want ErrWeakPassword", len(tt.in), err)
			}
		})
	}
}

func FuzzValidateUsername(f *testing.F) {
	for _, s := range []string{"alice", "AlIcE", "_x", "\u212Aelvin", "a-b_c", "ab", strings.Repeat("z", 33)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ValidateUsername(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidUsername) || got != "" {
				t.Fatalf("ValidateUsername(%q) = %q, %v", s, got, err)
			}
			if usernameRule.MatchString(strings.ToLower(s)) && isASCII(s) {
				t.Fatalf("ValidateUsername(%q) rejected a name that fits the rule", s)
			}
			return
		}
		if !usernameRule.MatchString(got) {
			t.Fatalf("ValidateUsername(%q) = %q, which breaks the rule", s, got)
		}
		if !strings.EqualFold(got, s) || len(got) != len(s) {
			t.Fatalf("ValidateUsername(%q) = %q, not the same name", s, got)
		}
		again, err := ValidateUsername(got)
		if err != nil || again != got {
			t.Fatalf("ValidateUsername(%q) = %q, %v; want it unchanged", got, again, err)
		}
	})
}

func FuzzValidatePassword(f *testing.F) {
	for _, s := range []string{"", "short", "long enough", strings.Repeat("p", 1025), "\x00\x00\x00\x00\x00\x00\x00\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := ValidatePassword(s)
		want := len(s) >= 8 && len(s) <= 1024
		if want != (err == nil) {
			t.Fatalf("ValidatePassword(%d bytes) = %v, want ok=%v", len(s), err, want)
		}
		if err != nil && !errors.Is(err, ErrWeakPassword) {
			t.Fatalf("ValidatePassword error = %v, want ErrWeakPassword", err)
		}
	})
}

// isASCII reports whether every byte of s is below 0x80.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

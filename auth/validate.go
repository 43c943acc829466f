package auth

import "errors"

// ErrInvalidUsername reports a username outside the rules of the contract.
// Its message is meant to be shown to the person who typed the name.
var ErrInvalidUsername = errors.New("username must be 3–32 letters, digits, _ or -, starting with a letter or digit")

// ErrWeakPassword reports a password outside the accepted length. Its message
// is meant to be shown to the person who typed the password.
var ErrWeakPassword = errors.New("password must be between 8 and 1024 bytes long")

// Length limits of usernames and passwords, in bytes.
const (
	minUsernameLen = 3
	maxUsernameLen = 32
	minPasswordLen = 8
	maxPasswordLen = 1024
)

// ValidateUsername checks s against the username rule (3–32 ASCII characters
// of A-Z a-z 0-9 _ -, starting with a letter or digit) and returns it in lower
// case, the form in which usernames are stored and compared. The check runs
// on the raw bytes before any case mapping, so look-alikes such as the Kelvin
// sign (U+212A, which strings.ToLower maps to "k") are rejected.
func ValidateUsername(s string) (string, error) {
	if len(s) < minUsernameLen || len(s) > maxUsernameLen || !isAlnum(s[0]) {
		return "", ErrInvalidUsername
	}
	lower := make([]byte, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isAlnum(c) && c != '_' && c != '-' {
			return "", ErrInvalidUsername
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		lower[i] = c
	}
	return string(lower), nil
}

// ValidatePassword checks that s is 8–1024 bytes long. Content is not
// restricted: any bytes, including spaces and non-ASCII, are accepted.
func ValidatePassword(s string) error {
	if len(s) < minPasswordLen || len(s) > maxPasswordLen {
		return ErrWeakPassword
	}
	return nil
}

// isAlnum reports whether c is an ASCII letter or digit.
func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

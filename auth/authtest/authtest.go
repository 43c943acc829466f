// Package authtest gives the tests of packages built on auth what they
// need from it and production code must never have: password hashing cheap
// enough to sign up and log in hundreds of times per test.
package authtest

import "github.com/cubbyhq/cubby/auth"

// Params returns argon2id parameters cheap enough for tests (64 KiB, one
// pass). They are far too weak for real passwords.
func Params() auth.Params {
	return auth.Params{Time: 1, MemoryKiB: 64, Threads: 1, SaltLen: 16, KeyLen: 32}
}

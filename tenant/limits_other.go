//go:build !unix

package tenant

// CheckFileLimit has no limit to check here.
func CheckFileLimit(int) error { return nil }

// MaxClients is, where there is no descriptor limit to read, as good as
// unlimited.
func MaxClients(int) int { return 1 << 20 }

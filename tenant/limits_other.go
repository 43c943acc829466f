//go:build !unix

package tenant

func checkFileLimit(int) error { return nil }

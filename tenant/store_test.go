package tenant

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

func TestStoreCannotAttachAnotherFile(t *testing.T) {
	p := newTestPool(t, Config{})
	a := mustProvision(t, p, "alice")
	b := mustProvision(t, p, "bob")
	s, release, err := p.Acquire(context.Background(), a.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	for _, q := range []string{
		"ATTACH DATABASE '" + p.tenantPath(b.ID) + "' AS other",
		"ATTACH '" + filepath.Join(t.TempDir(), "new.db") + "' AS fresh",
		"DETACH DATABASE main",
	} {
		_, err := s.ExecContext(context.Background(), q)
		if err == nil || !strings.Contains(err.Error(), "not authorized") {
			t.Errorf("%s: err = %v; want not authorized", q, err)
		}
	}
}

package tenant

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

func TestRecoverNeverOverwritesAnOrphan(t *testing.T) {
	p := newTestPool(t, Config{})
	id := newID()
	older := filepath.Join(p.dir, "orphans", id+".db")
	if err := os.WriteFile(older, []byte("older"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := createFile(p.tenantPath(id)); err != nil {
		t.Fatal(err)
	}
	r, err := p.Recover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Orphaned) != 1 || r.Orphaned[0] == older {
		t.Fatalf("orphaned %v; want one file beside %s", r.Orphaned, older)
	}
	if b, _ := os.ReadFile(older); string(b) != "older" {
		t.Fatalf("the older orphan was replaced")
	}
}

func TestDeleteRefusesATenantStillBeingProvisioned(t *testing.T) {
	p := newTestPool(t, Config{})
	half, err := p.Directory().create(context.Background(), newID(), "half")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Delete(context.Background(), half.ID); err != ErrNotFound {
		t.Fatalf("err = %v; want ErrNotFound", err)
	}
}

package tenant

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

func TestDirectoryGetSeesEveryWriteThroughTheDirectory(t *testing.T) {
	p := newTestPool(t, Config{})
	ctx := context.Background()
	tn := mustProvision(t, p, "alice")
	d := p.Directory()
	if got, err := d.Get(ctx, tn.ID); err != nil || got.State != StateActive {
		t.Fatalf("Get = %+v, %v; want active", got, err)
	}
	if err := d.setState(ctx, tn.ID, StateFailed, 1, "boom"); err != nil {
		t.Fatal(err)
	}
	if got, err := d.Get(ctx, tn.ID); err != nil || got.State != StateFailed || got.Error != "boom" || got.SchemaVersion != 1 {
		t.Fatalf("after setState, Get = %+v, %v; want failed at 1 with its error", got, err)
	}
	if err := d.remove(ctx, tn.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Get(ctx, tn.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after remove, Get = %v; want ErrNotFound", err)
	}
}

func TestDeletedTenantIsNotFoundThroughTheCache(t *testing.T) {
	p := newTestPool(t, Config{})
	ctx := context.Background()
	tn := mustProvision(t, p, "alice")
	insertItem(t, p, tn.ID, "a") // opens it, looking its row up
	if err := p.Delete(ctx, tn.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.Acquire(ctx, tn.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("acquire after delete: %v; want ErrNotFound", err)
	}
}

func TestLookupThatRacedAWriteIsNotCached(t *testing.T) {
	c := newRowCache()
	_, gen, _ := c.find("a")
	c.drop("a") // a write commits while the lookup's query runs
	c.keep(Tenant{ID: "a", State: StateProvisioning}, gen)
	if _, _, ok := c.find("a"); ok {
		t.Fatal("a row read before a write was cached after it")
	}
	_, gen, _ = c.find("a")
	c.keep(Tenant{ID: "a", State: StateActive}, gen)
	if got, _, ok := c.find("a"); !ok || got.State != StateActive {
		t.Fatalf("find = %+v, %v; want the row kept", got, ok)
	}
}

func TestRowCacheIsBounded(t *testing.T) {
	c := newRowCache()
	for i := range maxCachedTenants + 100 {
		_, gen, _ := c.find("")
		c.keep(Tenant{ID: fmt.Sprint(i)}, gen)
	}
	if n := len(c.rows); n > maxCachedTenants {
		t.Fatalf("the cache holds %d rows, more than its bound %d", n, maxCachedTenants)
	}
}

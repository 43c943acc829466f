package tenant

import (
	"context"
	"errors"
	"slices"
	"testing"
)

func TestWalkVisitsEveryTenantInNameOrderWhateverThePageSize(t *testing.T) {
	p := newTestPool(t, Config{})
	ctx := context.Background()
	want := []string{"ann", "bea", "carl", "dan", "eve"}
	for _, name := range []string{"eve", "carl", "ann", "dan", "bea"} {
		if _, err := p.Provision(ctx, name, nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, page := range []int{0, 1, 2, 5, 6} {
		var got []string
		err := p.Directory().Walk(ctx, page, func(tn Tenant) error {
			got = append(got, tn.Username)
			return nil
		})
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("page size %d: %v, %v; want %v", page, got, err, want)
		}
	}
}

func TestWalkStopsAtTheFirstErrorAndWhenTheContextEnds(t *testing.T) {
	p := newTestPool(t, Config{})
	ctx := context.Background()
	for _, name := range []string{"ann", "bea", "carl"} {
		if _, err := p.Provision(ctx, name, nil); err != nil {
			t.Fatal(err)
		}
	}
	stop := errors.New("stop")
	n := 0
	err := p.Directory().Walk(ctx, 1, func(Tenant) error {
		n++
		return stop
	})
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("walk: %d visited, %v; want 1 and the callback's error", n, err)
	}
	cctx, cancel := context.WithCancel(ctx)
	n = 0
	err = p.Directory().Walk(cctx, 1, func(Tenant) error {
		n++
		cancel()
		return nil
	})
	if !errors.Is(err, context.Canceled) || n != 1 {
		t.Fatalf("walk with a cancelled context: %d visited, %v; want 1 and context.Canceled", n, err)
	}
}

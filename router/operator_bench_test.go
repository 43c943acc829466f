package router

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// BenchmarkOperatorPage renders the operator page over 100,000 tenants:
// the first page and one deep in the list cost the same (a keyset cursor,
// only the page's files stat'd). The baseline reads the same page of rows
// from routing.db and nothing else.
func BenchmarkOperatorPage(b *testing.B) {
	o := benchOperator(b, 100_000)
	ctx := context.Background()
	b.Run("baseline=list-rows", func(b *testing.B) {
		for b.Loop() {
			if _, err := o.cfg.Pool.Directory().List(ctx, "user090000", DefaultOperatorPageSize+1); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, path := range []string{"/", "/?after=user090000"} {
		b.Run("page="+path, func(b *testing.B) {
			for b.Loop() {
				rec := httptest.NewRecorder()
				o.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
				if rec.Code != http.StatusOK {
					b.Fatalf("%d", rec.Code)
				}
			}
		})
	}
}

// benchOperator is an operator page over a pool whose routing.db holds n
// tenant rows (without files).
func benchOperator(b *testing.B, n int) *Operator {
	b.Helper()
	pool := benchApp(b, 512).pool
	db := pool.Directory().DB()
	tx, err := db.Begin()
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now().UTC()
	for i := range n {
		state := "active"
		if i%10_000 == 0 {
			state = "failed"
		}
		_, err := tx.Exec("INSERT INTO tenants (id, username, state, schema_version, error, created_at, updated_at) VALUES (?, ?, ?, 1, '', ?, ?)",
			fmt.Sprintf("%032x", i+1), fmt.Sprintf("user%06d", i), state, now, now)
		if err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	op, err := NewOperator(OperatorConfig{Pool: pool})
	if err != nil {
		b.Fatal(err)
	}
	return op
}

package tenant

import (
	"context"
	"errors"
	"testing"

	"github.com/jmoiron/sqlx"
)

// Config.Verify is asked about every file the pool opens for a tenant,
// after its migrations and before it is served (not while the tenant is
// provisioned): a refusal is ErrUnavailable, and a busy or full file keeps
// its own meaning; a file it accepts is served as before.
func TestVerifyRefusesAFileThatIsNotItsTenants(t *testing.T) {
	var answer error
	var asked []string
	// One handle: opening bob closes alice's, so each Acquire of hers opens her file.
	p := newTestPool(t, Config{MaxOpen: 1, Verify: func(ctx context.Context, db *sqlx.DB, tn Tenant) error {
		var name string
		if err := db.GetContext(ctx, &name, "SELECT username FROM account"); err != nil {
			return err
		}
		if tn.Username != "alice" {
			return nil
		}
		asked = append(asked, tn.Username+"="+name)
		return answer
	}})
	alice, bob := mustProvision(t, p, "alice"), mustProvision(t, p, "bob")
	if len(asked) != 0 {
		t.Fatalf("Verify was asked while provisioning: %v", asked)
	}
	for _, tc := range []struct {
		answer error
		want   error
	}{
		{nil, nil},
		{errors.New("not hers"), ErrUnavailable},
		{ErrBusy, ErrBusy},
		{ErrFull, ErrFull},
	} {
		answer = tc.answer
		_, release, err := p.Acquire(context.Background(), bob.ID)
		if err != nil {
			t.Fatal(err)
		}
		release()
		_, release, err = p.Acquire(context.Background(), alice.ID)
		if err == nil {
			release()
		}
		if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("Verify answering %v: Acquire = %v; want %v", tc.answer, err, tc.want)
		}
		if tc.want == ErrBusy || tc.want == ErrFull {
			if errors.Is(err, ErrUnavailable) {
				t.Errorf("Verify answering %v: Acquire = %v, also unavailable", tc.answer, err)
			}
		}
	}
	if len(asked) != 4 || asked[0] != "alice=alice" {
		t.Errorf("Verify asked %v; want once each open of alice's file, her own", asked)
	}
}

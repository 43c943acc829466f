package replica_test

import (
	"crypto/rand"
	"fmt"
	"os"
	"testing"

	"github.com/cubbyhq/cubby/replica"
	"github.com/cubbyhq/cubby/replica/replicatest"
)

// BenchmarkMove moves one tenant between owners as a cluster does. "other":
// back and forth between two processes (the next request landed on the
// other node): the new owner restores the file from the bucket, opens it,
// commits one transaction and hands it back (final sync; with tokens, the
// pointer moved to its path and the old path deleted). "same": one process
// claims it again and again (an eviction, then a reopen), with no restore.
// "token" is how a cluster replicates now, each claim into a path of its
// own; "shared" is the one path every owner wrote to before (no Fencing),
// the baseline. Reported: bytes and files uploaded and bytes downloaded
// per move, besides the time.
func BenchmarkMove(b *testing.B) {
	for _, mib := range []int{1, 8} {
		for _, to := range []string{"other", "same"} {
			for _, layout := range []string{"shared", "token"} {
				b.Run(fmt.Sprintf("%dMiB/%s/%s", mib, to, layout), func(b *testing.B) {
					benchMove(b, mib, to == "same", layout == "token")
				})
			}
		}
	}
}

func benchMove(b *testing.B, mib int, same, fenced bool) {
	s3 := replicatest.New(b)
	url := s3.URL("move")
	c := &claims{owner: map[string]int64{}, ptr: map[string]int64{}}
	nodes := []*node{c.node(), c.node()}
	procs := make([]*process, 2)
	for i := range procs {
		var f replica.Fencing
		if fenced {
			f = nodes[i]
		}
		procs[i] = startProcess(b, url, f)
	}
	// The first owner makes the file: mib MiB of notes.
	nodes[0].claim(fencedID)
	p := procs[0]
	p.open()
	for range mib * 16 {
		// Random bytes: LTX files are compressed, and real notes are not
		// all one letter.
		body := make([]byte, 64<<10)
		rand.Read(body)
		if _, err := p.db.Exec("INSERT INTO notes VALUES (?)", body); err != nil {
			b.Fatal(err)
		}
	}
	p.handBack()
	var up, down, files uint64
	i := 0
	for b.Loop() {
		i++
		n, p := nodes[i%2], procs[i%2]
		if same {
			n, p = nodes[0], procs[0]
		}
		n.claim(fencedID)
		start := p.r.Stats()
		if !same {
			for _, suffix := range []string{"", "-wal", "-shm"} {
				os.Remove(p.path + suffix) // the other node wrote since: restore
			}
			if err := p.r.Restore(b.Context(), fencedID, p.path); err != nil {
				b.Fatal(err)
			}
		}
		before := p.r.Stats()
		p.open()
		if _, err := p.db.Exec("INSERT INTO notes VALUES ('moved')"); err != nil {
			b.Fatal(err)
		}
		p.handBack()
		after := p.r.Stats()
		up += after.BytesUp - before.BytesUp
		down += after.BytesDown - start.BytesDown
		files += after.Uploads - before.Uploads
	}
	b.ReportMetric(float64(up)/float64(i), "B-up/move")
	b.ReportMetric(float64(files)/float64(i), "files-up/move")
	b.ReportMetric(float64(down)/float64(i), "B-down/move")
}

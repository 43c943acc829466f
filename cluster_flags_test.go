package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestServeRefusesBadClusterFlags(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	base := []string{"serve", "--data", data, "--addr", "127.0.0.1:0"}
	s3 := "s3://b/p?endpoint=http://127.0.0.1:1"
	node := []string{"--node-id", "a", "--advertise", "http://127.0.0.1:8081"}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"cluster without replication", append([]string{"--cluster", "etcd://127.0.0.1:2379"}, node...), "--cluster needs --replicate-to"},
		{"cluster without node id", []string{"--cluster", "etcd://127.0.0.1:2379", "--replicate-to", s3, "--advertise", "http://127.0.0.1:8081"}, "--cluster needs --node-id and --advertise"},
		{"cluster without advertise", []string{"--cluster", "etcd://127.0.0.1:2379", "--replicate-to", s3, "--node-id", "a"}, "--cluster needs --node-id and --advertise"},
		{"node id without cluster", node, "--node-id and --advertise need --cluster"},
		{"not an etcd URL", append([]string{"--cluster", "http://127.0.0.1:2379", "--replicate-to", s3}, node...), "--cluster:"},
		{"bad node id", []string{"--cluster", "etcd://127.0.0.1:2379", "--replicate-to", s3, "--node-id", "a/b", "--advertise", "http://127.0.0.1:8081"}, "node id"},
		{"bad advertise", []string{"--cluster", "etcd://127.0.0.1:2379", "--replicate-to", s3, "--node-id", "a", "--advertise", "ftp://x"}, "advertise"},
		{"fractional lease", append([]string{"--cluster", "etcd://127.0.0.1:2379", "--replicate-to", s3, "--lease-ttl", "1500ms"}, node...), "lease TTL"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantRun(t, exitUsage, []string{tc.want}, append(append([]string{}, base...), tc.args...)...)
		})
	}
	if _, err := os.Stat(data); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a refused serve left %s behind (%v)", data, err)
	}
}

func TestClusterEnvTwinsAreRead(t *testing.T) {
	cases := []struct{ name, cluster, node, advertise, want string }{
		{"CUBBY_CLUSTER", "http://127.0.0.1:2379", "a", "http://127.0.0.1:8081", "--cluster:"},
		{"CUBBY_NODE_ID", "etcd://127.0.0.1:2379", "a/b", "http://127.0.0.1:8081", "node id"},
		{"CUBBY_ADVERTISE", "etcd://127.0.0.1:2379", "a", "ftp://x", "advertise"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("CUBBY_CLUSTER", tc.cluster)
			t.Setenv("CUBBY_NODE_ID", tc.node)
			t.Setenv("CUBBY_ADVERTISE", tc.advertise)
			t.Setenv("CUBBY_REPLICATE_TO", "s3://b/p?endpoint=http://127.0.0.1:1")
			wantRun(t, exitUsage, []string{tc.want}, "serve", "--data", filepath.Join(t.TempDir(), "data"), "--addr", "127.0.0.1:0")
		})
	}
}

func TestUsersRefusesABadClusterURL(t *testing.T) {
	wantRun(t, exitUsage, []string{"--cluster:"}, "users", "--cluster", "http://127.0.0.1:2379")
}

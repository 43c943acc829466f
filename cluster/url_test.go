package cluster

import (
	"errors"
	"slices"
	"testing"
)

func TestParseURL(t *testing.T) {
	good := []struct {
		in   string
		want []string
	}{
		{"etcd://127.0.0.1:2379", []string{"127.0.0.1:2379"}},
		{"etcd://a:1,b:2,c:3", []string{"a:1", "b:2", "c:3"}},
		{"etcd://[::1]:2379", []string{"[::1]:2379"}},
		{"etcd://etcd.internal:65535", []string{"etcd.internal:65535"}},
	}
	for _, c := range good {
		got, err := ParseURL(c.in)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("ParseURL(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	bad := []string{
		"", "etcd://", "http://a:1", "a:1", "etcd://a", "etcd://a:", "etcd://:1", "etcd://a:0",
		"etcd://a:65536", "etcd://a:01", "etcd://a:x", "etcd://a:1,", "etcd://a:1,,b:2",
		"etcd://a:1/path", "etcd://a:1?x=1", "etcd://u@a:1", "etcd://a:1#f", "etcd://a:1,a:1",
		"etcd://a b:1", "etcd://::1:2379", "ETCD://a:1",
	}
	for _, in := range bad {
		if got, err := ParseURL(in); !errors.Is(err, ErrBadURL) {
			t.Errorf("ParseURL(%q) = %v, %v; want ErrBadURL", in, got, err)
		}
	}
}

func FuzzParseURL(f *testing.F) {
	for _, s := range []string{"etcd://a:1", "etcd://[::1]:2,b:3", "etcd://a:1/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		eps, err := ParseURL(s)
		if err != nil {
			return
		}
		// What parses must parse again to the same endpoints.
		again, err := ParseURL("etcd://" + joinComma(eps))
		if err != nil || !slices.Equal(again, eps) {
			t.Fatalf("ParseURL(%q) = %v, but its own form gives %v, %v", s, eps, again, err)
		}
	})
}

func joinComma(ss []string) string {
	out := ""
	for i, s := range ss {
		if i > 0 {
			out += ","
		}
		out += s
	}
	return out
}

func TestConfigRefusesBadValues(t *testing.T) {
	ok := Config{Endpoints: []string{"a:1"}, NodeID: "n1", Advertise: "http://h:1"}
	cases := map[string]func(*Config){
		"no endpoints":   func(c *Config) { c.Endpoints = nil },
		"empty id":       func(c *Config) { c.NodeID = "" },
		"slash in id":    func(c *Config) { c.NodeID = "a/b" },
		"no advertise":   func(c *Config) { c.Advertise = "" },
		"advertise path": func(c *Config) { c.Advertise = "http://h:1/x" },
		"advertise ftp":  func(c *Config) { c.Advertise = "ftp://h:1" },
		"fractional ttl": func(c *Config) { c.LeaseTTL = 1500 * 1e6 },
		"fraction 1":     func(c *Config) { c.SafetyFraction = 1 },
	}
	if _, err := ok.withDefaults(); err != nil {
		t.Fatalf("good config refused: %v", err)
	}
	for name, change := range cases {
		c := ok
		change(&c)
		if _, err := c.withDefaults(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

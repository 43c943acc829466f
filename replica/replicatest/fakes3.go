// Package replicatest runs an in-memory S3 (gofakes3) on 127.0.0.1 for
// tests of replication: it counts the requests it answers and can be told
// to fail them, as an S3 outage would.
package replicatest

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// Bucket is the bucket every S3 holds.
const Bucket = "cubby"

// S3 is an in-memory S3 server for one test.
type S3 struct {
	srv      *httptest.Server
	backend  *s3mem.Backend
	requests atomic.Int64
	puts     atomic.Int64
	failing  atomic.Bool
	trace    atomic.Bool
	// conditions is how the server treats conditional writes (If-Match,
	// If-None-Match on PUT and DELETE): 0 honours them, ignoreConditions
	// drops the headers as some S3-compatible stores do, refuseConditions
	// answers 501 as others do.
	conditions atomic.Int32
}

const (
	ignoreConditions = 1 + iota
	refuseConditions
)

// IgnoreConditions makes the server write as if a PUT or DELETE carried
// no If-Match or If-None-Match, as some S3-compatible stores do.
func (s *S3) IgnoreConditions() { s.conditions.Store(ignoreConditions) }

// RefuseConditions makes the server answer a PUT or DELETE carrying
// If-Match or If-None-Match with 501 Not Implemented, as other
// S3-compatible stores do.
func (s *S3) RefuseConditions() { s.conditions.Store(refuseConditions) }

// Trace prints each request while on.
func (s *S3) Trace(on bool) { s.trace.Store(on) }

// New starts an S3 holding an empty Bucket, stopped when t ends. It also
// clears AWS_CA_BUNDLE (which breaks the S3 client on some machines) and
// sets dummy credentials, for t only.
func New(t testing.TB) *S3 {
	t.Helper()
	t.Setenv("AWS_CA_BUNDLE", "")
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_REGION", "us-east-1")
	s := &S3{backend: s3mem.New()}
	if err := s.backend.CreateBucket(Bucket); err != nil {
		t.Fatal(err)
	}
	faker := gofakes3.New(s.backend)
	inner := faker.Server()
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		if s.trace.Load() {
			fmt.Println("S3", time.Now().Format("15:04:05.000"), r.Method, r.URL.String())
		}
		if s.failing.Load() {
			http.Error(w, "<Error><Code>ServiceUnavailable</Code></Error>", http.StatusServiceUnavailable)
			return
		}
		if conditional := r.Header.Get("If-Match") != "" || r.Header.Get("If-None-Match") != ""; conditional &&
			(r.Method == http.MethodPut || r.Method == http.MethodDelete) {
			switch s.conditions.Load() {
			case ignoreConditions:
				r.Header.Del("If-Match")
				r.Header.Del("If-None-Match")
			case refuseConditions:
				http.Error(w, "<Error><Code>NotImplemented</Code><Message>conditional writes</Message></Error>", http.StatusNotImplemented)
				return
			}
		}
		if r.Method == http.MethodPut {
			s.puts.Add(1)
		}
		inner.ServeHTTP(w, r)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// URL is a replica URL for prefix in the bucket.
func (s *S3) URL(prefix string) string {
	return fmt.Sprintf("s3://%s/%s?endpoint=%s&region=us-east-1&forcePathStyle=true", Bucket, prefix, s.srv.URL)
}

// Requests is how many requests the server has received.
func (s *S3) Requests() int64 { return s.requests.Load() }

// Puts is how many PUT requests it has answered (uploads).
func (s *S3) Puts() int64 { return s.puts.Load() }

// Fail makes every request fail with 503 until Fail(false).
func (s *S3) Fail(on bool) { s.failing.Store(on) }

// Keys lists the object keys under prefix.
func (s *S3) Keys(t testing.TB, prefix string) []string {
	t.Helper()
	list, err := s.backend.ListBucket(Bucket, &gofakes3.Prefix{}, gofakes3.ListBucketPage{})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range list.Contents {
		if strings.HasPrefix(o.Key, prefix) {
			keys = append(keys, o.Key)
		}
	}
	return keys
}

// DeletePrefix removes every object under prefix, as if it had never been
// replicated.
func (s *S3) DeletePrefix(t testing.TB, prefix string) {
	t.Helper()
	for _, k := range s.Keys(t, prefix) {
		if _, err := s.backend.DeleteObject(Bucket, k); err != nil {
			t.Fatal(err)
		}
	}
}

// Put writes body at key as another client of the bucket would (through
// the server, so it has a Last-Modified and counts as a PUT).
func (s *S3) Put(t testing.TB, key string, body []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, s.srv.URL+"/"+Bucket+"/"+key, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	// gofakes3 keeps the metadata of the object it replaces: the previous
	// body's checksum would stay unless this one sends its own.
	sum := binary.BigEndian.AppendUint32(nil, crc32.ChecksumIEEE(body))
	req.Header.Set("x-amz-checksum-crc32", base64.StdEncoding.EncodeToString(sum))
	res, err := s.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("put %s: %s", key, res.Status)
	}
}

// Get reads the object at key; nil when there is none.
func (s *S3) Get(t testing.TB, key string) []byte {
	t.Helper()
	obj, err := s.backend.GetObject(Bucket, key, nil)
	if gofakes3.HasErrorCode(err, gofakes3.ErrNoSuchKey) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Contents.Close()
	b, err := io.ReadAll(obj.Contents)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestUsersListsEveryUserSortedAsTextAndJSON(t *testing.T) {
	dir := t.TempDir()
	a := openTestApp(t, dir) // users runs beside a live app
	start := time.Now().Add(-time.Minute)
	ids := map[string]string{}
	for _, name := range []string{"carol", "alice", "Bob"} {
		tn := a.signup(name)
		ids[tn.Username] = tn.ID
	}
	names := []string{"alice", "bob", "carol"}

	text, _ := wantRun(t, exitOK, nil, "users", "--data", dir)
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) != 4 || strings.Join(strings.Fields(lines[0]), " ") != "ID STATE SCHEMA SIZE CREATED USERNAME" {
		t.Fatalf("table:\n%s", text)
	}
	for i, line := range lines[1:] {
		f := strings.Fields(line)
		// ID STATE SCHEMA SIZE(2 words) CREATED USERNAME
		if len(f) != 7 || f[6] != names[i] || f[0] != ids[names[i]] || f[1] != "active" || f[2] != strconv.Itoa(schemaVersion(t)) ||
			!strings.HasSuffix(f[4], "iB") {
			t.Errorf("row %d: %q", i, line)
		}
		if len(line) != len(lines[0])-len("USERNAME")+len(names[i]) {
			t.Errorf("row %d is not aligned with the header:\n%s\n%s", i, lines[0], line)
		}
	}

	js, _ := wantRun(t, exitOK, nil, "users", "--json", "--data", dir)
	var rows []struct {
		Username      string    `json:"username"`
		ID            string    `json:"id"`
		State         string    `json:"state"`
		SchemaVersion int       `json:"schema_version"`
		SizeBytes     *int64    `json:"size_bytes"`
		CreatedAt     time.Time `json:"created_at"`
	}
	dec := json.NewDecoder(strings.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rows); err != nil {
		t.Fatalf("%v in %s", err, js)
	}
	if len(rows) != 3 {
		t.Fatalf("%d rows: %s", len(rows), js)
	}
	for i, r := range rows {
		if r.Username != names[i] || r.ID != ids[r.Username] || r.State != "active" || r.SchemaVersion != schemaVersion(t) ||
			r.SizeBytes == nil || *r.SizeBytes < 1024 || r.CreatedAt.Before(start) || r.CreatedAt.Location() != time.UTC {
			t.Errorf("row %d: %+v", i, r)
		}
	}
}

func TestUsersOfAnEmptyDirectory(t *testing.T) {
	dir := t.TempDir()
	openTestApp(t, dir).close()
	if js, _ := wantRun(t, exitOK, nil, "users", "--json", "--data", dir); js != "[]\n" {
		t.Errorf("json %q; want an empty array", js)
	}
	if text, _ := wantRun(t, exitOK, nil, "users", "--data", dir); strings.Count(text, "\n") != 1 {
		t.Errorf("text %q; want the header alone", text)
	}
}

func TestUsersPagesThroughTheDirectory(t *testing.T) {
	dir := t.TempDir()
	a := openTestApp(t, dir)
	var want []string
	for _, name := range []string{"eve", "dan", "carl", "bea", "ann"} {
		a.signup(name)
		want = append(want, name)
	}
	slices.Sort(want)
	dd, err := openReader(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer dd.Close()
	d, err := dd.Routing(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, page := range []int{1, 2, 5, 6} {
		var buf bytes.Buffer
		if err := writeUsersJSON(context.Background(), &buf, d, dir, page); err != nil {
			t.Fatal(err)
		}
		var rows []userRow
		if err := json.Unmarshal(buf.Bytes(), &rows); err != nil {
			t.Fatalf("page %d: %v in %s", page, err, buf.String())
		}
		var got []string
		for _, r := range rows {
			got = append(got, r.Username)
		}
		if !slices.Equal(got, want) {
			t.Errorf("page size %d: %v; want %v", page, got, want)
		}
		buf.Reset()
		if err := writeUsersTable(context.Background(), &buf, d, dir, page); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(&buf)
		got = got[:0]
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			got = append(got, f[len(f)-1])
		}
		if !slices.Equal(got[1:], want) {
			t.Errorf("page size %d: table rows %v; want %v", page, got[1:], want)
		}
	}
}

// schemaVersion is the newest migration in the embedded schema.sql.
func schemaVersion(t *testing.T) int {
	t.Helper()
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	return len(ms)
}

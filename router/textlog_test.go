package router

import (
	"bytes"
	"context"
	"log/slog"
	"math"
	"testing"
	"time"
)

// lineOf returns what the fast path writes for one request (ok false when
// it leaves the line to the text handler) and what slog's text handler
// writes for the same record.
func lineOf(t testing.TB, now time.Time, method, route string, status int, elapsed time.Duration, info requestInfo) (fast string, ok bool, slow string) {
	var a, b bytes.Buffer
	ok = NewTextLogHandler(&a).(*textLog).writeRequest(now, method, route, status, elapsed, &info)
	if err := slog.NewTextHandler(&b, nil).Handle(context.Background(), requestRecord(now, method, route, status, elapsed, &info)); err != nil {
		t.Fatal(err)
	}
	return a.String(), ok, b.String()
}

func TestTextLogLineIsSlogsLine(t *testing.T) {
	zones := []*time.Location{time.UTC, time.FixedZone("x", -(3*3600 + 30*60)), time.FixedZone("y", 5*3600+45*60)}
	cases := []struct {
		method, route, client, tenant, id string
		fast                              bool
	}{
		{"GET", "/healthz", "127.0.0.1", "", "0123456789abcdef", true},
		{"POST", "/api/v1/notes/:id", "2001:db8::1", "9f86d081884c7d65", "req-1_x.y~z", true},
		{"GET", "(unmatched)", "10.0.0.1", "ab", "a\\b", true}, // a backslash is not quoted
		{"G\x7fT", "/", "c", "t", "i", true},                   // DEL is not quoted either
		{"GET", "/", "1.2.3.4", "", "has space", false},        // quoted: left to slog
		{"GET", "/", "1.2.3.4", "", `q"uote`, false},           // quoted
		{"GET", "/", "1.2.3.4", "", "a=b", false},              // quoted
		{"GÉT", "/", "1.2.3.4", "", "i", false},                // not ASCII
		{"GET", "/", "1.2.3.4\n", "", "i", false},              // control byte
		{"", "", "", "", "", true},                             // all empty: ""
	}
	for _, z := range zones {
		for _, c := range cases {
			now := time.Date(2026, 11, 29, 14, 21, 2, 999_999_999, z)
			for _, d := range []time.Duration{0, 1, 999, 1500 * time.Microsecond, 3*time.Second + 7, -5} {
				fast, ok, slow := lineOf(t, now, c.method, c.route, 200, d, requestInfo{client: c.client, tenant: c.tenant, id: c.id})
				if ok != c.fast {
					t.Fatalf("%+v: fast path taken %v, want %v", c, ok, c.fast)
				}
				if ok && fast != slow {
					t.Fatalf("%+v:\nfast %q\nslog %q", c, fast, slow)
				}
				now = now.Add(-time.Millisecond / 3)
			}
		}
	}
}

func FuzzTextLogLine(f *testing.F) {
	f.Add("GET", "/healthz", "127.0.0.1", "", "abc", 200, int64(12345), int64(1_795_000_000_123_456_789))
	f.Add("POST", "/a b", "::1", "t=1", `"`, 599, int64(-1), int64(0))
	f.Fuzz(func(t *testing.T, method, route, client, tenant, id string, status int, elapsed, unixNano int64) {
		now := time.Unix(0, unixNano).In(time.FixedZone("z", int(unixNano%50_000)))
		if now.Year() < 0 || now.Year() > 9999 {
			return // slog writes such times with its own fallback; serve's clock is not there
		}
		info := requestInfo{client: client, tenant: tenant, id: id}
		fast, ok, slow := lineOf(t, now, method, route, status, time.Duration(elapsed), info)
		if ok && fast != slow {
			t.Fatalf("\nfast %q\nslog %q", fast, slow)
		}
		// A line soon after, in the same second or the next, in the same
		// zone: the one the stamp of the second may be reused for.
		later := now.Add(time.Duration(uint64(elapsed) % uint64(2*time.Second)))
		if later.Year() > 9999 {
			return
		}
		fast, ok, slow = lineOf(t, later, method, route, status, time.Duration(elapsed), info)
		if ok && fast != slow {
			t.Fatalf("\nfast %q\nslog %q", fast, slow)
		}
	})
}

// The stamp of a second is reused only within it, in its zone: across
// the turn of a second, a minute, a day and a year, and a change of
// daylight saving time, every millisecond is written as AppendFormat
// writes it.
func TestAppendStampIsAppendFormat(t *testing.T) {
	zones := []*time.Location{time.UTC, time.FixedZone("x", -(3*3600 + 30*60)), time.Local}
	if ny, err := time.LoadLocation("America/New_York"); err == nil {
		zones = append(zones, ny)
	}
	starts := []time.Time{
		time.Date(2026, 12, 31, 23, 59, 59, 990_000_000, time.UTC),
		time.Date(2026, 11, 1, 5, 59, 59, 995_000_000, time.UTC), // New York leaves daylight saving
		time.Date(1969, 12, 31, 23, 59, 59, 998_000_000, time.UTC),
	}
	for _, start := range starts {
		for i := range 40 {
			for _, z := range zones { // the same second in one zone after another
				now := start.Add(time.Duration(i) * 499_999 * time.Nanosecond).In(z)
				if got, want := string(appendStamp(nil, now)), now.Format(stampLayout); got != want {
					t.Fatalf("%v: %q; want %q", now, got, want)
				}
			}
		}
	}
}

func TestAppendDurationIsString(t *testing.T) {
	ds := []time.Duration{0, 1, -1, 999, 1000, 1001, 1500, 999_999, 1_000_000, 1_234_567,
		999_999_999, time.Second, time.Second + 1, 59*time.Second + 500*time.Millisecond, time.Minute,
		time.Hour, time.Hour + time.Second, 25*time.Hour + 61*time.Second + 10, -90 * time.Minute,
		math.MaxInt64, math.MinInt64, math.MinInt64 + 1}
	for _, d := range ds {
		if got := string(appendDuration([]byte("x"), d)); got != "x"+d.String() {
			t.Errorf("%d: %q; want %q", int64(d), got, "x"+d.String())
		}
	}
}

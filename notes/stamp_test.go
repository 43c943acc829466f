package notes

import (
	"testing"
	"time"
)

// parseStamp is stricter than time.Parse, which also takes a one-digit
// hour or a comma before the fraction, but it takes every time that
// Format(timeLayout) writes, and whatever it takes it reads as time.Parse
// does.
func TestParseStampAgreesWithTimeParse(t *testing.T) {
	for _, s := range []string{
		"2024-02-29T23:59:59.999999999Z", "0001-01-01T00:00:00.000000000Z", "9999-12-31T23:59:59.999999999Z",
		"2023-02-29T00:00:00.000000000Z", "2024-13-01T00:00:00.000000000Z", "2024-04-31T00:00:00.000000000Z",
		"2024-01-01T24:00:00.000000000Z", "2024-01-01T00:60:00.000000000Z", "2024-01-01T00:00:60.000000000Z",
		"2024-01-01 00:00:00.000000000Z", "2024-01-01T00:00:00.00000000Z", "2024-01-01T00:00:00.000000000+",
		"0000-01-01T00:00:00.000000000Z", "2024-00-10T00:00:00.000000000Z", "2024-01-00T00:00:00.000000000Z",
		"2100-02-29T00:00:00.000000000Z", "2000-02-29T00:00:00.000000000Z", "", "x",
	} {
		checkStamp(t, s)
	}
}

func FuzzParseStamp(f *testing.F) {
	f.Add("2024-02-29T23:59:59.999999999Z")
	f.Add("2023-02-29T00:00:00.000000000Z")
	f.Add("0000-00-00T00:00:00.000000000Z")
	f.Fuzz(checkStamp)
}

// FuzzParseStampReadsWhatFormatWrites: every time of years 1–9999 comes
// back exactly.
func FuzzParseStampReadsWhatFormatWrites(f *testing.F) {
	f.Add(int64(0), int64(0))
	f.Add(int64(1<<40), int64(999999999))
	f.Fuzz(func(t *testing.T, sec, nsec int64) {
		want := time.Unix(sec, nsec).UTC()
		if want.Year() < 1 || want.Year() > 9999 {
			return
		}
		s := want.Format(timeLayout)
		got, err := parseStamp([]byte(s))
		if err != nil || got != want {
			t.Fatalf("parseStamp(%q) = %v, %v; want %v", s, got, err, want)
		}
	})
}

func checkStamp(t *testing.T, s string) {
	got, err := parseStamp([]byte(s))
	if err != nil {
		return
	}
	want, wantErr := time.Parse(timeLayout, s)
	if wantErr != nil || got != want {
		t.Fatalf("parseStamp(%q) = %v; time.Parse = %v, %v", s, got, want, wantErr)
	}
}

// BenchmarkParseStamp: one stored time read by parseStamp, against
// time.Parse (the baseline) in the same run.
func BenchmarkParseStamp(b *testing.B) {
	const s = "2024-02-29T23:59:59.123456789Z"
	raw := []byte(s)
	b.Run("baseline=time.Parse", func(b *testing.B) {
		for b.Loop() {
			if _, err := time.Parse(timeLayout, s); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parseStamp", func(b *testing.B) {
		for b.Loop() {
			if _, err := parseStamp(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
}

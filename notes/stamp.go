package notes

import (
	"errors"
	"time"
)

// timeLayout stores times as fixed-width UTC text, so that text order is
// time order.
const timeLayout = "2006-01-02T15:04:05.000000000Z"

// errBadStamp is a stored time that is not in timeLayout.
var errBadStamp = errors.New("stored time is not in the layout " + timeLayout)

// parseStamp reads a time stored in timeLayout. It accepts exactly what
// time.Parse(timeLayout, …) accepts and returns the same time, without
// time.Parse's general machinery or an allocation: every listed note has
// two of these.
func parseStamp(b []byte) (time.Time, error) {
	if len(b) != len(timeLayout) {
		return time.Time{}, errBadStamp
	}
	for i := range len(timeLayout) {
		if c := timeLayout[i]; c < '0' || c > '9' {
			if b[i] != c {
				return time.Time{}, errBadStamp
			}
		} else if b[i] < '0' || b[i] > '9' {
			return time.Time{}, errBadStamp
		}
	}
	year, month, day := digits(b[0:4]), digits(b[5:7]), digits(b[8:10])
	hour, minute, sec, nsec := digits(b[11:13]), digits(b[14:16]), digits(b[17:19]), digits(b[20:29])
	if month < 1 || month > 12 || day < 1 || day > daysIn(month, year) ||
		hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, errBadStamp
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC), nil
}

// digits is the value of b, all of whose bytes are ASCII digits.
func digits(b []byte) int {
	n := 0
	for _, c := range b {
		n = n*10 + int(c-'0')
	}
	return n
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

package router

import (
	"io"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// NewTextLogHandler is slog.NewTextHandler(w, nil) with a short way in for
// the request log: logRequests writes its line straight into a pooled
// buffer, byte for byte the line the text handler would write, instead of
// building an slog.Record (whose seven attributes overflow its inline
// room) and walking it. Every other record goes through the text handler.
// w must take concurrent Writes of whole lines, each in one piece, as
// serve's logWriter does; the text handler serializes its own.
func NewTextLogHandler(w io.Writer) slog.Handler {
	return &textLog{Handler: slog.NewTextHandler(w, nil), w: w}
}

// textLog is the handler NewTextLogHandler returns.
type textLog struct {
	slog.Handler
	w io.Writer
}

// lineBufs holds the buffers request log lines are built in.
var lineBufs = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// writeRequest writes the request log line, the one logRequest would hand
// the text handler, and reports whether it could: a value the text handler
// would quote beyond an empty string (spaces, '=', quotes, control bytes,
// anything not ASCII) is left to the handler, so only one formatter ever
// decides how those look.
func (t *textLog) writeRequest(now time.Time, method, route string, status int, elapsed time.Duration, info *requestInfo) bool {
	if !plainText(method) || !plainText(route) || !plainText(info.client) || !plainText(info.tenant) || !plainText(info.id) {
		return false
	}
	bp := lineBufs.Get().(*[]byte)
	b := (*bp)[:0]
	b = append(b, "time="...)
	b = appendStamp(b, now)
	b = append(b, " level=INFO msg=request method="...)
	b = appendPlain(b, method)
	b = append(b, " route="...)
	b = appendPlain(b, route)
	b = append(b, " status="...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, " duration="...)
	b = appendDuration(b, elapsed)
	b = append(b, " client="...)
	b = appendPlain(b, info.client)
	b = append(b, " tenant="...)
	b = appendPlain(b, info.tenant)
	b = append(b, " request_id="...)
	b = appendPlain(b, info.id)
	b = append(b, '\n')
	t.w.Write(b) //nolint:errcheck // as slog.Logger does: a log that fails has no one to tell
	if cap(b) <= 4<<10 {
		*bp = b
		lineBufs.Put(bp)
	}
	return true
}

// plainText says whether the text handler writes s as it is, or as "" when
// empty: printable ASCII other than space, '=' and '"'.
func plainText(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == '=' || c == '"' || c >= 0x80 {
			return false
		}
	}
	return true
}

// appendPlain appends a plainText value as the text handler writes it.
func appendPlain(b []byte, s string) []byte {
	if s == "" {
		return append(b, `""`...)
	}
	return append(b, s...)
}

// stampLayout is how slog writes a record's time: truncated to
// milliseconds.
const stampLayout = "2006-01-02T15:04:05.000Z07:00"

// secondStamp is the text of one second of one location in stampLayout,
// without the milliseconds: what every line written in that second shares.
type secondStamp struct {
	sec  int64
	loc  *time.Location
	head []byte // "2006-01-02T15:04:05"
	zone []byte // "Z07:00"
}

// lastStamp is the second the last request line was written in.
var lastStamp atomic.Pointer[secondStamp]

// appendStamp appends t as t.AppendFormat(b, stampLayout) does, formatting
// the date, time of day and zone only once a second: a busy server writes
// thousands of lines in each.
func appendStamp(b []byte, t time.Time) []byte {
	sec, loc := t.Unix(), t.Location()
	st := lastStamp.Load()
	if st == nil || st.sec != sec || st.loc != loc {
		whole := time.Unix(sec, 0).In(loc)
		st = &secondStamp{sec: sec, loc: loc,
			head: whole.AppendFormat(nil, "2006-01-02T15:04:05"),
			zone: whole.AppendFormat(nil, "Z07:00")}
		lastStamp.Store(st)
	}
	ms := t.Nanosecond() / 1e6
	b = append(b, st.head...)
	b = append(b, '.', byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10))
	return append(b, st.zone...)
}

// appendDuration appends d as d.String() writes it, without the string.
func appendDuration(b []byte, d time.Duration) []byte {
	if d == 0 {
		return append(b, "0s"...)
	}
	u := uint64(d)
	if d < 0 {
		b = append(b, '-')
		u = -u
	}
	switch {
	case u < uint64(time.Microsecond):
		return append(strconv.AppendUint(b, u, 10), "ns"...)
	case u < uint64(time.Millisecond):
		return append(appendFixed(b, u, 3), "µs"...)
	case u < uint64(time.Second):
		return append(appendFixed(b, u, 6), "ms"...)
	}
	secs := u / uint64(time.Second)
	if h := secs / 3600; h > 0 {
		b = append(strconv.AppendUint(b, h, 10), 'h')
		b = append(strconv.AppendUint(b, secs/60%60, 10), 'm')
	} else if m := secs / 60; m > 0 {
		b = append(strconv.AppendUint(b, m, 10), 'm')
	}
	return append(appendFixed(b, secs%60*uint64(time.Second)+u%uint64(time.Second), 9), 's')
}

// appendFixed appends v / 10^prec, then its remainder as a decimal
// fraction without trailing zeros, if it has one.
func appendFixed(b []byte, v uint64, prec int) []byte {
	pow := uint64(1)
	for range prec {
		pow *= 10
	}
	b = strconv.AppendUint(b, v/pow, 10)
	frac := v % pow
	if frac == 0 {
		return b
	}
	for frac%10 == 0 {
		frac /= 10
		prec--
	}
	var digits [9]byte
	for i := prec - 1; i >= 0; i-- {
		digits[i] = byte('0' + frac%10)
		frac /= 10
	}
	b = append(b, '.')
	return append(b, digits[:prec]...)
}

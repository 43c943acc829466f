package router

import (
	"io"
	"log/slog"
	"strconv"
	"sync"
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
	b = now.AppendFormat(b, "2006-01-02T15:04:05.000Z07:00") // truncated to milliseconds, as slog does
	b = append(b, " level=INFO msg=request method="...)
	b = appendPlain(b, method)
	b = append(b, " route="...)
	b = appendPlain(b, route)
	b = append(b, " status="...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, " duration="...)
	b = append(b, elapsed.String()...)
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

package router

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"log/slog"
	"math/rand/v2"
	"net/http"
)

// RequestIDHeader carries a request's id: taken from the client (or a proxy
// in front) when it is safe to log, made otherwise, and sent back.
const RequestIDHeader = "X-Request-Id"

// maxRequestIDLen bounds an id taken from a client.
const maxRequestIDLen = 64

// requestID returns the id of r: its X-Request-Id when that is short and of
// safe characters, else 16 random bytes in hex. A client's id is logged as
// is, so anything that could forge a log line or hide in one is refused.
//
// The bytes come from math/rand/v2's generator (ChaCha8, seeded by the
// runtime, one state per thread), not crypto/rand: an id only has to be
// unique, it guards nothing, and this is on every request.
func requestID(r *http.Request) string {
	// Indexed rather than Get, which would canonicalise a key that already is.
	if ids := r.Header[RequestIDHeader]; len(ids) > 0 && validRequestID(ids[0]) {
		return ids[0]
	}
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(b[8:], rand.Uint64())
	var x [32]byte
	hex.Encode(x[:], b[:])
	return string(x[:])
}

// validRequestID reports whether id is 1–64 characters of A-Z a-z 0-9 and
// "-_.:".
func validRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-', c == '_', c == '.', c == ':':
		default:
			return false
		}
	}
	return true
}

// RequestID returns the id of the request whose context ctx is, or "" outside
// a request.
func RequestID(ctx context.Context) string {
	if info, ok := ctx.Value(infoKey).(*requestInfo); ok {
		return info.id
	}
	return ""
}

// LogHandler wraps h so that every record logged with a request's context
// carries that request's id as request_id. router.New wraps its own logger;
// main wraps the logger it gives auth and tenant, so their lines about a
// request carry the id too.
func LogHandler(h slog.Handler) slog.Handler {
	if _, ok := h.(requestIDHandler); ok {
		return h
	}
	return requestIDHandler{h}
}

// requestIDHandler adds request_id from the context to every record.
type requestIDHandler struct{ slog.Handler }

// Handle adds the request id, if ctx has one, and passes the record on.
func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := RequestID(ctx); id != "" {
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

// WithAttrs keeps the wrapper around the derived handler.
func (h requestIDHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(attrs)}
}

// WithGroup keeps the wrapper around the derived handler.
func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}

package router

import (
	"bytes"
	"crypto/sha256"
	_ "embed" // the OpenAPI document
	"encoding/hex"
	"net/http"
	"time"
)

// openAPIDocument is the OpenAPI 3.0 description of the JSON API under
// /api/v1: every route, body, status and error code. The router's API
// tests validate every request they make and every answer they get
// against it (openapi_test.go), so it cannot drift from the handlers.
//
//go:embed openapi.json
var openAPIDocument []byte

// openAPI serves the OpenAPI document. It is public and the same for
// everyone, so caches may keep it for an hour; its ETag (a hash of the
// document) lets them revalidate it for free after an upgrade.
func (a *App) openAPI() http.HandlerFunc {
	sum := sha256.Sum256(openAPIDocument)
	etag := `"` + hex.EncodeToString(sum[:16]) + `"`
	return func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "public, max-age=3600")
		h.Set("ETag", etag)
		http.ServeContent(w, r, "openapi.json", time.Time{}, bytes.NewReader(openAPIDocument))
	}
}

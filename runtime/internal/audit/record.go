package audit

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Principals recorded when a call did not authenticate.
const (
	// PrincipalAnonymous is a call without credentials.
	PrincipalAnonymous = "anonymous"
	// PrincipalInvalid is a call whose credentials did not verify; the
	// key id it claimed is not recorded, since nothing vouches for it.
	PrincipalInvalid = "invalid"
)

// Record is one control-plane call.
type Record struct {
	// Seq is the record's position in the audit stream, set when read.
	Seq       uint64    `json:"seq,omitempty"`
	Time      time.Time `json:"time"`
	RequestID string    `json:"requestId"`
	// Principal is the access key id the call was signed with, or
	// PrincipalAnonymous or PrincipalInvalid.
	Principal string `json:"principal"`
	Source    string `json:"source"`
	Operation string `json:"operation"`
	Method    string `json:"method"`
	// Path is the request path without its query.
	Path      string `json:"path"`
	Function  string `json:"function,omitempty"`
	Status    int    `json:"status"`
	ErrorCode string `json:"errorCode,omitempty"`
	// DurationMs is how long the call took to answer.
	DurationMs int64 `json:"durationMs"`
}

// Field bounds: every string comes at least partly from the caller, and
// the whole record must fit the stream's message size.
const (
	maxShort = 128
	maxPath  = 1024
)

// MaxEncodedSize bounds Encode's output: every string at its bound, each
// byte escaped to six (json escapes <, > and & as \u003c), plus the names,
// numbers and time around them.
const MaxEncodedSize = 6*(7*maxShort+maxPath) + 512

// Encode bounds every field and encodes the record as one JSON line
// without a trailing newline.
func Encode(r Record) ([]byte, error) {
	r.RequestID = bound(r.RequestID, maxShort)
	r.Principal = bound(r.Principal, maxShort)
	r.Source = bound(r.Source, maxShort)
	r.Operation = bound(r.Operation, maxShort)
	r.Method = bound(r.Method, maxShort)
	r.Path = bound(r.Path, maxPath)
	r.Function = bound(r.Function, maxShort)
	r.ErrorCode = bound(r.ErrorCode, maxShort)
	r.Time = r.Time.UTC()
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encode audit record: %w", err)
	}
	return b, nil
}

// Decode parses a record written by Encode.
func Decode(data []byte) (Record, error) {
	var r Record
	if err := json.Unmarshal(data, &r); err != nil {
		return Record{}, fmt.Errorf("decode audit record: %w", err)
	}
	return r, nil
}

// bound keeps s to max bytes of valid UTF-8 without control characters,
// marking a cut with "…", so a hostile path cannot forge lines in a
// terminal or bloat the stream.
func bound(s string, max int) string {
	clean := strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return '?'
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
	if len(clean) <= max {
		return clean
	}
	cut := max - len("…")
	for cut > 0 && !utf8.RuneStart(clean[cut]) {
		cut--
	}
	return clean[:cut] + "…"
}

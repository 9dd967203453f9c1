package server

import (
	"bytes"
	"encoding/base64"

	"github.com/kumo-dev/kumo/runtime/kumo"
)

// Code uploads are up to 50 MB of zip, sent as one base64 JSON string.
// encoding/json validates strings a byte at a time (~170 MB/s here), which
// made decoding the largest part of CreateFunction. cutBlob finds that one
// string with a structural scan that skips string contents with
// bytes.IndexByte, cuts it out, and leaves the small rest of the document to
// the strict decoder. Anything unusual (escapes in the string, a duplicate
// key, malformed JSON) returns ok=false and the caller decodes normally,
// so errors are still reported by encoding/json.

// cutBlob returns body with the string at path replaced by "" and the raw
// contents of that string.
func cutBlob(body []byte, path ...string) (rest, blob []byte, ok bool) {
	s := blobScanner{buf: body, path: path, start: -1}
	s.skipSpace()
	if !s.value(0, true) {
		return nil, nil, false
	}
	s.skipSpace()
	if s.i != len(s.buf) || s.start < 0 || s.dup {
		return nil, nil, false
	}
	rest = make([]byte, 0, len(body)-(s.end-s.start)+2)
	rest = append(rest, body[:s.start]...)
	rest = append(rest, '"', '"')
	rest = append(rest, body[s.end:]...)
	return rest, body[s.start+1 : s.end-1], true
}

type blobScanner struct {
	buf        []byte
	i          int
	path       []string
	start, end int // span of the blob string, quotes included
	dup        bool
}

func (s *blobScanner) skipSpace() {
	for s.i < len(s.buf) {
		switch s.buf[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// str skips a string and reports whether it had no escapes.
func (s *blobScanner) str() (plain bool, ok bool) {
	if s.i >= len(s.buf) || s.buf[s.i] != '"' {
		return false, false
	}
	s.i++
	plain = true
	for {
		j := bytes.IndexByte(s.buf[s.i:], '"')
		if j < 0 {
			return false, false
		}
		seg := s.buf[s.i : s.i+j]
		if k := bytes.IndexByte(seg, '\\'); k >= 0 {
			plain = false
			// Skip the escape and look again.
			s.i += k + 2
			if s.i > len(s.buf) {
				return false, false
			}
			continue
		}
		s.i += j + 1
		return plain, true
	}
}

// separator reads what follows a member or element: a comma (more=true)
// or the closing bracket (ok=true); anything else is malformed.
func (s *blobScanner) separator(closing byte) (more, ok bool) {
	s.skipSpace()
	if s.i >= len(s.buf) {
		return false, false
	}
	switch s.buf[s.i] {
	case ',':
		s.i++
		return true, true
	case closing:
		s.i++
		return false, true
	}
	return false, false
}

// value skips one JSON value; onPath says the value sits at path[:depth].
func (s *blobScanner) value(depth int, onPath bool) bool {
	if s.i >= len(s.buf) {
		return false
	}
	switch c := s.buf[s.i]; {
	case c == '{':
		s.i++
		s.skipSpace()
		if s.i < len(s.buf) && s.buf[s.i] == '}' {
			s.i++
			return true
		}
		for {
			s.skipSpace()
			keyStart := s.i
			if _, ok := s.str(); !ok {
				return false
			}
			key := s.buf[keyStart+1 : s.i-1]
			s.skipSpace()
			if s.i >= len(s.buf) || s.buf[s.i] != ':' {
				return false
			}
			s.i++
			s.skipSpace()
			next := onPath && depth < len(s.path) && string(key) == s.path[depth]
			if next && depth == len(s.path)-1 {
				if s.start >= 0 {
					s.dup = true
				}
				st := s.i
				plain, ok := s.str()
				if !ok || !plain {
					return false
				}
				s.start, s.end = st, s.i
			} else if !s.value(depth+1, next) {
				return false
			}
			if more, ok := s.separator('}'); !more {
				return ok
			}
		}
	case c == '[':
		s.i++
		s.skipSpace()
		if s.i < len(s.buf) && s.buf[s.i] == ']' {
			s.i++
			return true
		}
		for {
			s.skipSpace()
			if !s.value(depth+1, false) {
				return false
			}
			if more, ok := s.separator(']'); !more {
				return ok
			}
		}
	case c == '"':
		_, ok := s.str()
		return ok
	default:
		// Numbers and literals: the strict decoder checks them.
		for s.i < len(s.buf) {
			switch s.buf[s.i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return true
			}
			s.i++
		}
		return true
	}
}

// decodeWithBlob decodes body into v strictly, taking the (large) base64
// string at path out first; set receives the decoded bytes.
func decodeWithBlob(body []byte, v any, set func([]byte), path ...string) error {
	rest, blob, ok := cutBlob(body, path...)
	if !ok {
		return decode(body, v)
	}
	if err := decode(rest, v); err != nil {
		return err
	}
	if len(blob) == 0 {
		return nil
	}
	raw := make([]byte, base64.StdEncoding.DecodedLen(len(blob)))
	n, err := base64.StdEncoding.Decode(raw, blob)
	if err != nil {
		return kumo.Errorf(kumo.ErrInvalidRequestContent, "Could not parse request body into json: %s is not valid base64: %v", path[len(path)-1], err)
	}
	set(raw[:n])
	return nil
}

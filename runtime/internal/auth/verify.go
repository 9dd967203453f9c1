package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/kumo-dev/kumo/runtime/kumo"
)

// Lambda error codes for authentication failures, all HTTP 403.
const (
	CodeMissingToken        = "MissingAuthenticationTokenException"
	CodeUnrecognizedClient  = "UnrecognizedClientException"
	CodeInvalidSignature    = "InvalidSignatureException"
	CodeIncompleteSignature = "IncompleteSignatureException"
)

const (
	msgMissingToken     = "Missing Authentication Token"
	msgUnrecognized     = "The security token included in the request is invalid."
	msgSignatureInvalid = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."

	algorithm      = "AWS4-HMAC-SHA256"
	amzDateLayout  = "20060102T150405Z"
	scopeDate      = "20060102"
	terminator     = "aws4_request"
	unsignedBody   = "UNSIGNED-PAYLOAD"
	defaultMaxSkew = 5 * time.Minute

	// Bounds on attacker-controlled sizes, far above anything an SDK sends.
	maxAuthorizationLen = 4096
	maxSignedHeaders    = 64
)

// Option configures a Verifier.
type Option func(*Verifier)

// WithClock replaces time.Now, for tests.
func WithClock(now func() time.Time) Option {
	return func(v *Verifier) {
		if now != nil {
			v.now = now
		}
	}
}

// WithMaxSkew sets how far X-Amz-Date may be from the clock; default 5 min.
func WithMaxSkew(d time.Duration) Option {
	return func(v *Verifier) {
		if d > 0 {
			v.maxSkew = d
		}
	}
}

// Verifier checks SigV4 signatures made with one key pair. It is safe for
// concurrent use.
type Verifier struct {
	creds   aws.Credentials
	region  string
	service string
	now     func() time.Time
	maxSkew time.Duration
	signer  *v4.Signer
}

// NewVerifier returns a Verifier accepting requests signed with creds for
// region and service (Lambda clients sign for "lambda").
func NewVerifier(creds Credentials, region, service string, opts ...Option) *Verifier {
	v := &Verifier{
		creds:   aws.Credentials{AccessKeyID: creds.AccessKeyID, SecretAccessKey: creds.SecretAccessKey},
		region:  region,
		service: service,
		now:     time.Now,
		maxSkew: defaultMaxSkew,
		signer:  v4.NewSigner(),
	}
	for _, opt := range opts {
		opt(v)
	}
	return v
}

// authorization is a parsed Authorization header.
type authorization struct {
	accessKey     string
	date          string // yyyymmdd from the credential scope
	region        string
	service       string
	signedHeaders []string
	signedRaw     string
	signature     string
}

// Verify checks r's Authorization header and X-Amz-Date against the
// verifier's key. body must be the complete request body. Every failure is
// a *kumo.Error of kind kumo.ErrAccessDenied carrying Lambda's error code.
func (v *Verifier) Verify(r *http.Request, body []byte) error {
	values := r.Header.Values("Authorization")
	if len(values) == 0 || len(values) == 1 && strings.TrimSpace(values[0]) == "" {
		return denied(CodeMissingToken, msgMissingToken)
	}
	if len(values) > 1 {
		return denied(CodeIncompleteSignature, "Only one Authorization header is allowed.")
	}
	a, err := parseAuthorization(values[0])
	if err != nil {
		return err
	}
	if subtle.ConstantTimeCompare([]byte(a.accessKey), []byte(v.creds.AccessKeyID)) != 1 {
		return denied(CodeUnrecognizedClient, msgUnrecognized)
	}
	// kumo issues no temporary credentials, so any session token is one
	// it cannot check.
	if _, ok := r.Header[http.CanonicalHeaderKey("X-Amz-Security-Token")]; ok {
		return denied(CodeUnrecognizedClient, msgUnrecognized)
	}

	signedAt, err := v.checkDate(r, a)
	if err != nil {
		return err
	}
	if a.region != v.region {
		return denied(CodeInvalidSignature, "Credential should be scoped to a valid region. ")
	}
	if a.service != v.service {
		return denied(CodeInvalidSignature, "Credential should be scoped to correct service: '%s'. ", v.service)
	}
	if !slices.Contains(a.signedHeaders, "host") {
		return denied(CodeInvalidSignature, "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
	}
	if !slices.Contains(a.signedHeaders, "x-amz-date") {
		return denied(CodeInvalidSignature, "'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization.")
	}

	payloadHash, err := payloadHash(r, body)
	if err != nil {
		return err
	}
	clone, err := v.canonicalClone(r, a)
	if err != nil {
		return err
	}
	if err := v.signer.SignHTTP(r.Context(), v.creds, clone, payloadHash, a.service, a.region, signedAt); err != nil {
		return denied(CodeInvalidSignature, msgSignatureInvalid)
	}
	want, err := parseAuthorization(clone.Header.Get("Authorization"))
	if err != nil || want.signedRaw != a.signedRaw ||
		!hmac.Equal([]byte(want.signature), []byte(a.signature)) {
		return denied(CodeInvalidSignature, msgSignatureInvalid)
	}
	return nil
}

func (v *Verifier) checkDate(r *http.Request, a authorization) (time.Time, error) {
	dates := r.Header.Values("X-Amz-Date")
	if len(dates) != 1 {
		return time.Time{}, denied(CodeIncompleteSignature, "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
	}
	t, err := time.Parse(amzDateLayout, dates[0])
	if err != nil || t.Format(amzDateLayout) != dates[0] {
		return time.Time{}, denied(CodeIncompleteSignature, "X-Amz-Date is not in ISO-8601 basic format (YYYYMMDDTHHMMSSZ).")
	}
	if day := t.Format(scopeDate); day != a.date {
		return time.Time{}, denied(CodeInvalidSignature, "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.", a.date, day, dates[0])
	}
	now := v.now().UTC()
	skew := int(v.maxSkew / time.Minute)
	if t.Before(now.Add(-v.maxSkew)) {
		return time.Time{}, denied(CodeInvalidSignature, "Signature expired: %s is now earlier than %s (%s - %d min.)",
			dates[0], now.Add(-v.maxSkew).Format(amzDateLayout), now.Format(amzDateLayout), skew)
	}
	if t.After(now.Add(v.maxSkew)) {
		return time.Time{}, denied(CodeInvalidSignature, "Signature not yet current: %s is still later than %s (%s + %d min.)",
			dates[0], now.Add(v.maxSkew).Format(amzDateLayout), now.Format(amzDateLayout), skew)
	}
	return t, nil
}

// payloadHash hashes body. Lambda clients send no X-Amz-Content-Sha256;
// when one is sent it must be the body's hash or UNSIGNED-PAYLOAD, which
// the client then signed instead of the hash.
func payloadHash(r *http.Request, body []byte) (string, error) {
	sum := sha256.Sum256(body)
	h := hex.EncodeToString(sum[:])
	claimed := r.Header.Values("X-Amz-Content-Sha256")
	switch {
	case len(claimed) == 0:
		return h, nil
	case len(claimed) > 1:
		return "", denied(CodeIncompleteSignature, "Only one X-Amz-Content-Sha256 header is allowed.")
	case claimed[0] == unsignedBody:
		return unsignedBody, nil
	case claimed[0] != h:
		return "", denied(CodeInvalidSignature, "The provided 'x-amz-content-sha256' header does not match what was computed.")
	}
	return h, nil
}

// canonicalClone builds the request the client signed: the same method,
// escaped path, query and host, and only the headers it listed. The signer
// then computes what the signature must have been.
func (v *Verifier) canonicalClone(r *http.Request, a authorization) (*http.Request, error) {
	// Pairs Go cannot parse are invisible to handlers too, so a query
	// carrying them could hide unsigned parameters; refuse it.
	if _, err := url.ParseQuery(r.URL.RawQuery); err != nil {
		return nil, denied(CodeInvalidSignature, msgSignatureInvalid)
	}
	if r.Host == "" || r.URL.Opaque != "" {
		return nil, denied(CodeInvalidSignature, msgSignatureInvalid)
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	clone := &http.Request{
		Method: r.Method,
		URL: &url.URL{
			Scheme:   scheme,
			Host:     r.Host,
			Path:     r.URL.Path,
			RawPath:  r.URL.RawPath,
			RawQuery: r.URL.RawQuery,
		},
		Host:   r.Host,
		Header: make(http.Header, len(a.signedHeaders)),
	}
	for _, name := range a.signedHeaders {
		switch name {
		case "host", "x-amz-date":
			// The signer always signs these itself, from clone.Host and
			// the signing time.
			continue
		case "content-length":
			// The signer signs content-length only from ContentLength > 0.
			n, err := strconv.ParseInt(r.Header.Get("Content-Length"), 10, 64)
			if err != nil || n <= 0 {
				n = r.ContentLength
			}
			if n <= 0 {
				return nil, denied(CodeInvalidSignature, msgSignatureInvalid)
			}
			clone.ContentLength = n
			continue
		case "authorization", "user-agent", "expect", "transfer-encoding", "x-amzn-trace-id":
			// The signer never signs these, so it cannot reproduce a
			// signature over them.
			return nil, denied(CodeInvalidSignature, msgSignatureInvalid)
		}
		vals := headerValues(r.Header, name)
		if len(vals) == 0 {
			return nil, denied(CodeInvalidSignature, msgSignatureInvalid)
		}
		clone.Header[http.CanonicalHeaderKey(name)] = vals
	}
	return clone, nil
}

// headerValues collects name's values whatever case the key was stored in.
func headerValues(h http.Header, name string) []string {
	if vals, ok := h[http.CanonicalHeaderKey(name)]; ok {
		return slices.Clone(vals)
	}
	var keys []string
	for k := range h {
		if strings.EqualFold(k, name) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var vals []string
	for _, k := range keys {
		vals = append(vals, h[k]...)
	}
	return vals
}

// parseAuthorization parses
// "AWS4-HMAC-SHA256 Credential=AK/DATE/REGION/SERVICE/aws4_request,
// SignedHeaders=a;b, Signature=HEX" strictly.
func parseAuthorization(h string) (authorization, error) {
	var a authorization
	if len(h) > maxAuthorizationLen {
		return a, incomplete("Authorization header is too long.")
	}
	alg, rest, ok := strings.Cut(h, " ")
	if !ok || alg != algorithm {
		return a, incomplete("Authorization header requires the AWS4-HMAC-SHA256 algorithm.")
	}
	var cred, signed, sig string
	var haveCred, haveSigned, haveSig bool
	for part := range strings.SplitSeq(rest, ",") {
		k, val, ok := strings.Cut(strings.Trim(part, " "), "=")
		if !ok {
			return a, incomplete("Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters.")
		}
		var dst *string
		var have *bool
		switch k {
		case "Credential":
			dst, have = &cred, &haveCred
		case "SignedHeaders":
			dst, have = &signed, &haveSigned
		case "Signature":
			dst, have = &sig, &haveSig
		default:
			return a, incomplete("Authorization header has an unknown parameter.")
		}
		if *have {
			return a, incomplete("Authorization header repeats a parameter.")
		}
		*dst, *have = val, true
	}
	if !haveCred || !haveSigned || !haveSig {
		return a, incomplete("Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters.")
	}

	scope := strings.Split(cred, "/")
	if len(scope) != 5 || scope[0] == "" || scope[2] == "" || scope[3] == "" || scope[4] != terminator {
		return a, incomplete("Credential should be ACCESS_KEY/YYYYMMDD/REGION/SERVICE/aws4_request.")
	}
	if _, err := time.Parse(scopeDate, scope[1]); err != nil || len(scope[1]) != len(scopeDate) {
		return a, incomplete("Credential scope date is not YYYYMMDD.")
	}
	a.accessKey, a.date, a.region, a.service = scope[0], scope[1], scope[2], scope[3]

	a.signedHeaders = strings.Split(signed, ";")
	if len(a.signedHeaders) > maxSignedHeaders {
		return a, incomplete("Too many SignedHeaders.")
	}
	for i, name := range a.signedHeaders {
		// SigV4 requires lowercase names in strictly increasing order, so
		// a list that is not is malformed, not merely unmatched.
		if !validHeaderName(name) || i > 0 && a.signedHeaders[i-1] >= name {
			return a, incomplete("SignedHeaders must be sorted, unique, lowercase header names.")
		}
	}
	a.signedRaw = signed

	if len(sig) != sha256.Size*2 || strings.IndexFunc(sig, notLowerHex) >= 0 {
		return a, incomplete("Signature must be 64 lowercase hexadecimal characters.")
	}
	a.signature = sig
	return a, nil
}

func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func notLowerHex(r rune) bool { return !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') }

func denied(code, format string, args ...any) error {
	return &kumo.Error{Kind: kumo.ErrAccessDenied, Code: code, Message: fmt.Sprintf(format, args...)}
}

func incomplete(format string, args ...any) error {
	return denied(CodeIncompleteSignature, format, args...)
}

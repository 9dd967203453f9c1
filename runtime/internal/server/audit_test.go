package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kumo-dev/kumo/runtime/image"
	"github.com/kumo-dev/kumo/runtime/internal/audit"
	"github.com/kumo-dev/kumo/runtime/internal/control"
	"github.com/kumo-dev/kumo/runtime/internal/invoke"
	"github.com/kumo-dev/kumo/runtime/internal/server"
	"github.com/kumo-dev/kumo/runtime/internal/store"
	"github.com/kumo-dev/kumo/runtime/kumo"
)

const (
	goodAuth = "AWS4-HMAC-SHA256 Credential=AKIDAUDITTEST/20260101/local/lambda/aws4_request, SignedHeaders=host;x-amz-date, Signature=good"
	badAuth  = "AWS4-HMAC-SHA256 Credential=AKIDFORGED/20260101/local/lambda/aws4_request, SignedHeaders=host;x-amz-date, Signature=bad"
)

// signatureIs accepts exactly goodAuth.
type signatureIs struct{}

func (signatureIs) Verify(r *http.Request, _ []byte) error {
	switch r.Header.Get("Authorization") {
	case goodAuth:
		return nil
	case "":
		return &kumo.Error{Kind: kumo.ErrAccessDenied, Code: "MissingAuthenticationTokenException", Message: "Missing Authentication Token"}
	}
	return &kumo.Error{Kind: kumo.ErrAccessDenied, Code: "InvalidSignatureException", Message: "bad signature"}
}

// memAuditor keeps records in memory and serves them back.
type memAuditor struct {
	mu   sync.Mutex
	recs []audit.Record
}

func (m *memAuditor) Record(r audit.Record) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r.Seq = uint64(len(m.recs) + 1)
	m.recs = append(m.recs, r)
}

func (m *memAuditor) Read(_ context.Context, after uint64, limit int) ([]audit.Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []audit.Record
	for _, r := range m.recs {
		if r.Seq > after && len(out) < limit {
			out = append(out, r)
		}
	}
	return out, nil
}

func (m *memAuditor) Follow(ctx context.Context, after uint64) (<-chan audit.Record, error) {
	recs, _ := m.Read(ctx, after, 1<<30)
	ch := make(chan audit.Record, len(recs))
	for _, r := range recs {
		ch <- r
	}
	close(ch)
	return ch, nil
}

func (m *memAuditor) all() []audit.Record {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]audit.Record(nil), m.recs...)
}

// writeOnly is an Auditor that cannot serve the log.
type writeOnly struct{}

func (writeOnly) Record(audit.Record) {}

func newAuditedServer(t *testing.T, a server.Auditor) *httptest.Server {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(t.Context(), store.Config{Dir: dir})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	imgs, err := image.Open(dir + "/images")
	require.NoError(t, err)
	ctl := control.New(st, imgs, kumo.Scope{Region: "local", Account: "000000000000"})
	inv := &recordingInvoker{resp: invoke.Response{RequestID: "req-1", Payload: []byte(`{}`), ExecutedVersion: "$LATEST", StatusCode: 200}}
	ts := httptest.NewServer(server.New(ctl, inv, noLogs{}, signatureIs{}, server.WithAuditor(a)))
	t.Cleanup(ts.Close)
	return ts
}

func call(t *testing.T, ts *httptest.Server, method, path, auth string, body []byte) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, ts.URL+path, bytes.NewReader(body))
	require.NoError(t, err)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := ts.Client().Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	return resp
}

func TestAuditRecordsControlPlaneCalls(t *testing.T) {
	t.Parallel()
	m := &memAuditor{}
	ts := newAuditedServer(t, m)
	const secret = "audit-canary-secret-7f3a"
	create := []byte(`{"FunctionName":"fn","Role":"arn:aws:iam::000000000000:role/r","Runtime":"provided.al2023","Handler":"bootstrap","Code":{"ZipFile":"bm90IGEgemlw"},"Environment":{"Variables":{"SECRET":"` + secret + `"}}}`)

	type want struct {
		op, principal, function, code string
		status                        int
	}
	steps := []struct {
		method, path, auth string
		body               []byte
		want               *want // nil: not audited
	}{
		{"GET", "/2015-03-31/functions", goodAuth, nil, &want{"ListFunctions", "AKIDAUDITTEST", "", "", 200}},
		{"GET", "/2015-03-31/functions/", goodAuth, nil, &want{"ListFunctions", "AKIDAUDITTEST", "", "", 200}},
		{"POST", "/2015-03-31/functions", goodAuth, create, &want{"CreateFunction", "AKIDAUDITTEST", "fn", "InvalidParameterValueException", 400}},
		{"GET", "/2015-03-31/functions/missing", goodAuth, nil, &want{"GetFunction", "AKIDAUDITTEST", "missing", "ResourceNotFoundException", 404}},
		{"GET", "/2015-03-31/functions/arn:aws:lambda:local:000000000000:function:byarn/configuration", goodAuth, nil, &want{"GetFunctionConfiguration", "AKIDAUDITTEST", "byarn", "ResourceNotFoundException", 404}},
		{"DELETE", "/2015-03-31/functions/missing", "", nil, &want{"DeleteFunction", "anonymous", "missing", "MissingAuthenticationTokenException", 403}},
		{"PUT", "/2015-03-31/functions/x/configuration", badAuth, []byte(`{"Environment":{"Variables":{"S":"` + secret + `"}}}`), &want{"UpdateFunctionConfiguration", "invalid", "x", "InvalidSignatureException", 403}},
		{"POST", "/2015-03-31/functions/fn/invocations", goodAuth, []byte(`{"secret":"` + secret + `"}`), nil},
		{"POST", "/2015-03-31/functions/fn/invocations", badAuth, nil, nil},
		{"GET", "/kumo/v1/health", "", nil, nil},
		{"GET", "/2017-03-31/tags/arn:aws:lambda:local:000000000000:function:tagged", goodAuth, nil, &want{"ListTags", "AKIDAUDITTEST", "tagged", "ResourceNotFoundException", 404}},
		{"GET", "/2016-08-19/account-settings", goodAuth, nil, &want{"GetAccountSettings", "AKIDAUDITTEST", "", "", 200}},
		{"PATCH", "/no/such/thing", goodAuth, nil, &want{"UnknownOperation", "AKIDAUDITTEST", "", "ResourceNotFoundException", 404}},
	}
	var wants []want
	for _, s := range steps {
		resp := call(t, ts, s.method, s.path, s.auth, s.body)
		if s.want != nil {
			require.Equal(t, s.want.status, resp.StatusCode, "%s %s", s.method, s.path)
			wants = append(wants, *s.want)
		}
	}
	recs := m.all()
	require.Len(t, recs, len(wants))
	for i, r := range recs {
		w := wants[i]
		assert.Equal(t, w.op, r.Operation, "record %d", i)
		assert.Equal(t, w.principal, r.Principal, "record %d %s", i, r.Operation)
		assert.Equal(t, w.function, r.Function, "record %d %s", i, r.Operation)
		assert.Equal(t, w.status, r.Status, "record %d %s", i, r.Operation)
		assert.Equal(t, w.code, r.ErrorCode, "record %d %s", i, r.Operation)
		assert.NotEmpty(t, r.RequestID)
		assert.Equal(t, "127.0.0.1", r.Source)
		assert.False(t, r.Time.IsZero())
		b, err := audit.Encode(r)
		require.NoError(t, err)
		assert.NotContains(t, string(b), secret, "a request body leaked into the audit record")
		assert.NotContains(t, string(b), "AKIDFORGED", "an unverified key id is recorded")
	}
}

func TestAuditLogEndpoint(t *testing.T) {
	t.Parallel()
	m := &memAuditor{}
	ts := newAuditedServer(t, m)
	for range 3 {
		call(t, ts, "GET", "/2015-03-31/functions", goodAuth, nil)
	}
	read := func(query string) (int, []audit.Record) {
		req, err := http.NewRequestWithContext(t.Context(), "GET", ts.URL+"/kumo/v1/audit"+query, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", goodAuth)
		resp, err := ts.Client().Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var recs []audit.Record
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if resp.StatusCode != http.StatusOK {
				continue
			}
			var r audit.Record
			require.NoError(t, json.Unmarshal(sc.Bytes(), &r), sc.Text())
			recs = append(recs, r)
		}
		return resp.StatusCode, recs
	}
	for _, tc := range []struct {
		query  string
		status int
		seqs   []uint64
	}{
		{"", 200, []uint64{1, 2, 3}},
		{"?after=1", 200, []uint64{2, 3}},
		{"?after=1&limit=1", 200, []uint64{2}},
		{"?after=99", 200, nil},
		{"?follow=true&after=2", 200, []uint64{3}},
		{"?after=-1", 400, nil},
		{"?after=x", 400, nil},
		{"?limit=0", 400, nil},
		{"?limit=10001", 400, nil},
	} {
		status, recs := read(tc.query)
		require.Equal(t, tc.status, status, tc.query)
		var seqs []uint64
		for _, r := range recs {
			if r.Operation == "ListFunctions" {
				seqs = append(seqs, r.Seq)
			}
		}
		assert.Equal(t, tc.seqs, seqs, tc.query)
	}
	// Reading the audit log is itself audited, bad requests included.
	var reads, bad int
	for _, r := range m.all() {
		if r.Operation == "kumo:GetAuditLog" {
			reads++
			if r.Status == 400 {
				bad++
			}
		}
	}
	assert.GreaterOrEqual(t, reads, 9)
	assert.Equal(t, 4, bad)

	unsigned := call(t, ts, "GET", "/kumo/v1/audit", "", nil)
	assert.Equal(t, http.StatusForbidden, unsigned.StatusCode, "the audit log is signed like the API")
}

func TestAuditLogNeedsReader(t *testing.T) {
	t.Parallel()
	ts := newAuditedServer(t, writeOnly{})
	resp := call(t, ts, "GET", "/kumo/v1/audit", goodAuth, nil)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	assert.True(t, strings.HasPrefix(resp.Header.Get("x-amzn-ErrorType"), "ResourceNotFound"))
}

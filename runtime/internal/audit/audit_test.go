package audit_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kumo-dev/kumo/runtime/internal/audit"
	"github.com/kumo-dev/kumo/runtime/internal/store"
)

// waitLimit only bounds how long a broken test hangs; no test asserts it.
const waitLimit = 20 * time.Second

func TestEncodeRoundTrip(t *testing.T) {
	t.Parallel()
	r := audit.Record{
		Time:       time.Date(2026, 5, 6, 7, 8, 9, 0, time.FixedZone("x", 3600)),
		RequestID:  "3f0c",
		Principal:  "AKIDEXAMPLE",
		Source:     "127.0.0.1",
		Operation:  "CreateFunction",
		Method:     "POST",
		Path:       "/2015-03-31/functions",
		Function:   "hello",
		Status:     201,
		DurationMs: 12,
	}
	b, err := audit.Encode(r)
	require.NoError(t, err)
	assert.NotContains(t, string(b), "\n")
	got, err := audit.Decode(b)
	require.NoError(t, err)
	want := r
	want.Time = r.Time.UTC()
	assert.Equal(t, want, got)
}

func TestEncodeBoundsHostileFields(t *testing.T) {
	t.Parallel()
	huge := strings.Repeat("<&>\u2028", 1<<18)
	for _, tc := range []struct {
		name   string
		record audit.Record
		check  func(t *testing.T, r audit.Record)
	}{
		{"every field huge", audit.Record{RequestID: huge, Principal: huge, Source: huge, Operation: huge, Method: huge, Path: huge, Function: huge, ErrorCode: huge}, func(t *testing.T, r audit.Record) {
			assert.LessOrEqual(t, len(r.Path), 1024)
			assert.LessOrEqual(t, len(r.Principal), 128)
			assert.True(t, strings.HasSuffix(r.Path, "…"), "a cut is marked")
		}},
		{"newlines cannot forge lines", audit.Record{Path: "/a\nPOST /forged 200\r\x1b[2J", Function: "f\x00"}, func(t *testing.T, r audit.Record) {
			assert.Equal(t, "/a?POST /forged 200??[2J", r.Path)
			assert.Equal(t, "f?", r.Function)
		}},
		{"invalid utf-8", audit.Record{Path: "/\xff\xfe", Principal: "\xc3"}, func(t *testing.T, r audit.Record) {
			assert.True(t, utf8.ValidString(r.Path))
			assert.Equal(t, "?", r.Principal)
		}},
		{"multibyte cut on a rune boundary", audit.Record{Function: strings.Repeat("é", 200)}, func(t *testing.T, r audit.Record) {
			assert.True(t, utf8.ValidString(r.Function))
			assert.LessOrEqual(t, len(r.Function), 128)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, err := audit.Encode(tc.record)
			require.NoError(t, err)
			assert.LessOrEqual(t, len(b), audit.MaxEncodedSize)
			assert.LessOrEqual(t, len(b), store.MaxAuditRecordSize, "fits the stream's message size")
			r, err := audit.Decode(b)
			require.NoError(t, err)
			tc.check(t, r)
		})
	}
}

// fakeStream stores records in memory; when gate is set, appends wait for
// it to be closed.
type fakeStream struct {
	mu      sync.Mutex
	data    [][]byte
	gate    chan struct{}
	entered chan struct{}
}

func (f *fakeStream) AppendAudit(ctx context.Context, data []byte) (uint64, error) {
	if f.gate != nil {
		select {
		case f.entered <- struct{}{}:
		default:
		}
		select {
		case <-f.gate:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.data = append(f.data, data)
	return uint64(len(f.data)), nil
}

func (f *fakeStream) ReadAudit(_ context.Context, after uint64, limit int) ([]store.AuditRecord, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []store.AuditRecord
	for i := after; i < uint64(len(f.data)) && len(out) < limit; i++ {
		out = append(out, store.AuditRecord{Seq: i + 1, Data: f.data[i]})
	}
	return out, nil
}

func (f *fakeStream) FollowAudit(ctx context.Context, after uint64) (<-chan store.AuditRecord, error) {
	recs, _ := f.ReadAudit(ctx, after, 1<<30)
	ch := make(chan store.AuditRecord, len(recs))
	for _, r := range recs {
		ch <- r
	}
	close(ch)
	return ch, nil
}

func (f *fakeStream) operations(t *testing.T) []string {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	var ops []string
	for _, d := range f.data {
		r, err := audit.Decode(d)
		require.NoError(t, err)
		ops = append(ops, r.Operation)
	}
	return ops
}

func TestCloseFlushesInOrder(t *testing.T) {
	t.Parallel()
	fs := &fakeStream{}
	g := audit.New(fs)
	var want []string
	for i := range 100 {
		op := fmt.Sprintf("Op%d", i)
		want = append(want, op)
		g.Record(audit.Record{Operation: op})
	}
	require.NoError(t, g.Close(t.Context()))
	assert.Equal(t, want, fs.operations(t))
	assert.Equal(t, audit.Stats{Written: 100}, g.Stats())

	g.Record(audit.Record{Operation: "late"})
	assert.Equal(t, uint64(1), g.Stats().Dropped, "a record after Close is dropped and counted")
	require.NoError(t, g.Close(t.Context()), "Close is idempotent")
}

// TestRecordNeverBlocks fills the queue while the engine is stuck: Record
// keeps returning and counts what it drops.
func TestRecordNeverBlocks(t *testing.T) {
	t.Parallel()
	fs := &fakeStream{gate: make(chan struct{}), entered: make(chan struct{}, 1)}
	g := audit.New(fs, audit.WithQueue(4))
	g.Record(audit.Record{Operation: "first"})
	select {
	case <-fs.entered: // the writer holds "first" and waits on the engine
	case <-time.After(waitLimit):
		t.Fatal("writer never called the stream")
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 1000 {
			g.Record(audit.Record{Operation: "flood"})
		}
	}()
	select {
	case <-done:
	case <-time.After(waitLimit):
		t.Fatal("Record blocked")
	}
	assert.Equal(t, uint64(1000-4), g.Stats().Dropped)
	close(fs.gate)
	require.NoError(t, g.Close(t.Context()))
	assert.Equal(t, audit.Stats{Written: 5, Dropped: 996}, g.Stats())
}

func TestCloseGivesUpWhenEngineIsStuck(t *testing.T) {
	t.Parallel()
	fs := &fakeStream{gate: make(chan struct{}), entered: make(chan struct{}, 1)}
	g := audit.New(fs)
	for range 3 {
		g.Record(audit.Record{Operation: "x"})
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, g.Close(ctx), context.DeadlineExceeded)
	assert.Equal(t, audit.Stats{Failed: 3}, g.Stats())
}

func TestReadAndFollowDecode(t *testing.T) {
	t.Parallel()
	fs := &fakeStream{}
	g := audit.New(fs)
	g.Record(audit.Record{Operation: "GetFunction", Status: 200})
	g.Record(audit.Record{Operation: "DeleteFunction", Status: 404, ErrorCode: "ResourceNotFoundException"})
	require.NoError(t, g.Close(t.Context()))
	fs.data = append(fs.data, []byte("{not json"))

	recs, err := g.Read(t.Context(), 0, 10)
	require.NoError(t, err)
	require.Len(t, recs, 3)
	assert.Equal(t, uint64(1), recs[0].Seq)
	assert.Equal(t, "GetFunction", recs[0].Operation)
	assert.Equal(t, "ResourceNotFoundException", recs[1].ErrorCode)
	assert.Equal(t, uint64(3), recs[2].Seq)
	assert.Equal(t, "Undecodable", recs[2].Operation, "a bad record is shown, not skipped")

	ch, err := g.Follow(t.Context(), 1)
	require.NoError(t, err)
	var seqs []uint64
	for r := range ch {
		seqs = append(seqs, r.Seq)
	}
	assert.Equal(t, []uint64{2, 3}, seqs)
}

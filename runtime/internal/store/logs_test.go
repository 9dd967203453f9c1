package store

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kumo-dev/kumo/runtime/kumo"
)

func timeAfter() <-chan time.Time { return time.After(waitLimit) }

func TestAppendAndReadLogs(t *testing.T) {
	t.Parallel()
	s := openTest(t, Config{})
	ctx := t.Context()

	require.NoError(t, s.AppendLog(ctx, "fn", "", nil))
	recs, err := s.ReadLogs(ctx, "fn", 0, 0)
	require.NoError(t, err)
	assert.Empty(t, recs, "empty data stores nothing")

	for i := range 5 {
		require.NoError(t, s.AppendLog(ctx, "fn", fmt.Sprintf("req-%d", i), fmt.Appendf(nil, "line %d\n", i)))
		require.NoError(t, s.AppendLog(ctx, "other", "x", []byte("noise\n")))
	}

	recs, err = s.ReadLogs(ctx, "fn", 0, 2)
	require.NoError(t, err)
	require.Len(t, recs, 2)
	assert.Equal(t, "line 0\n", string(recs[0].Data))
	assert.Equal(t, "req-0", recs[0].RequestID)
	assert.Equal(t, "fn", recs[0].Function)
	assert.False(t, recs[0].Time.IsZero())
	assert.Less(t, recs[0].Seq, recs[1].Seq)

	rest, err := s.ReadLogs(ctx, "fn", recs[1].Seq, 100)
	require.NoError(t, err)
	require.Len(t, rest, 3)
	for i, r := range rest {
		assert.Equal(t, fmt.Sprintf("line %d\n", i+2), string(r.Data))
	}

	none, err := s.ReadLogs(ctx, "fn", rest[2].Seq, 100)
	require.NoError(t, err)
	assert.Empty(t, none)
	none, err = s.ReadLogs(ctx, "fn", ^uint64(0), 100)
	require.NoError(t, err)
	assert.Empty(t, none)
}

func TestAppendLogChunksLargeData(t *testing.T) {
	t.Parallel()
	s := openTest(t, Config{})
	ctx := t.Context()

	var lines bytes.Buffer
	for i := 0; lines.Len() < 3<<20; i++ {
		fmt.Fprintf(&lines, "log line %07d %s\n", i, strings.Repeat("x", 100))
	}
	noNewlines := bytes.Repeat([]byte("y"), 2<<20+17)

	tests := []struct {
		name       string
		data       []byte
		wholeLines bool
	}{
		{"lines", lines.Bytes(), true},
		{"one huge line", noNewlines, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fn := strings.ReplaceAll(tc.name, " ", "-")
			require.NoError(t, s.AppendLog(ctx, fn, "big", tc.data))
			recs, err := s.ReadLogs(ctx, fn, 0, 0)
			require.NoError(t, err)
			require.Greater(t, len(recs), 2)
			var joined []byte
			for _, r := range recs {
				assert.LessOrEqual(t, len(r.Data), 1<<20)
				assert.Equal(t, "big", r.RequestID)
				if tc.wholeLines {
					assert.True(t, bytes.HasSuffix(r.Data, []byte("\n")), "chunk splits a line")
				}
				joined = append(joined, r.Data...)
			}
			assert.True(t, bytes.Equal(tc.data, joined), "chunks do not reassemble the input")
		})
	}
}

func TestAppendLogRejectsHostileRequestID(t *testing.T) {
	t.Parallel()
	s := openTest(t, Config{})
	for _, id := range []string{"a\r\nKumo-Request-Id: forged", "a b", "a\x00", "\u00e9", strings.Repeat("r", 129)} {
		t.Run(fmt.Sprintf("%q", id), func(t *testing.T) {
			err := s.AppendLog(t.Context(), "fn", id, []byte("x"))
			require.ErrorIs(t, err, kumo.ErrInvalidParameter)
		})
	}
	recs, err := s.ReadLogs(t.Context(), "fn", 0, 0)
	require.NoError(t, err)
	assert.Empty(t, recs)
}

func TestLogsBoundedPerFunction(t *testing.T) {
	t.Parallel()
	s := openTest(t, Config{LogMaxPerFunction: 3})
	ctx := t.Context()

	require.NoError(t, s.AppendLog(ctx, "quiet", "q", []byte("keep me\n")))
	for i := range 10 {
		require.NoError(t, s.AppendLog(ctx, "noisy", "n", fmt.Appendf(nil, "%d\n", i)))
	}

	recs, err := s.ReadLogs(ctx, "noisy", 0, 0)
	require.NoError(t, err)
	var got []string
	for _, r := range recs {
		got = append(got, string(r.Data))
	}
	assert.Equal(t, []string{"7\n", "8\n", "9\n"}, got)

	quiet, err := s.ReadLogs(ctx, "quiet", 0, 0)
	require.NoError(t, err)
	require.Len(t, quiet, 1)
	assert.Equal(t, "keep me\n", string(quiet[0].Data))
}

func TestLogsBoundReappliedOnReopen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := Open(t.Context(), Config{Dir: dir})
	require.NoError(t, err)
	for i := range 5 {
		require.NoError(t, s.AppendLog(t.Context(), "fn", "", fmt.Appendf(nil, "%d", i)))
	}
	require.NoError(t, s.Close())

	// A lower bound on restart is applied to the existing stream.
	s = openTest(t, Config{Dir: dir, LogMaxPerFunction: 2})
	recs, err := s.ReadLogs(t.Context(), "fn", 0, 0)
	require.NoError(t, err)
	require.Len(t, recs, 2)
	assert.Equal(t, "3", string(recs[0].Data))
}

func TestFollowLogs(t *testing.T) {
	t.Parallel()
	s := openTest(t, Config{})
	ctx := t.Context()

	require.NoError(t, s.AppendLog(ctx, "fn", "r0", []byte("old 0\n")))
	require.NoError(t, s.AppendLog(ctx, "fn", "r1", []byte("old 1\n")))
	first, err := s.ReadLogs(ctx, "fn", 0, 1)
	require.NoError(t, err)
	require.Len(t, first, 1)

	tests := []struct {
		name     string
		afterSeq uint64
		want     []string
	}{
		{"from start", 0, []string{"old 0\n", "old 1\n", "live\n"}},
		{"after first", first[0].Seq, []string{"old 1\n", "live\n"}},
	}
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	chans := make([]<-chan LogRecord, len(tests))
	for i, tc := range tests {
		chans[i], err = s.FollowLogs(fctx, "fn", tc.afterSeq)
		require.NoError(t, err)
	}
	require.NoError(t, s.AppendLog(ctx, "other", "x", []byte("not mine\n")))
	require.NoError(t, s.AppendLog(ctx, "fn", "r2", []byte("live\n")))

	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			var last uint64
			for range tc.want {
				r := recvRecord(t, chans[i])
				assert.Equal(t, "fn", r.Function)
				assert.Greater(t, r.Seq, last)
				assert.False(t, r.Time.IsZero())
				last = r.Seq
				got = append(got, string(r.Data))
			}
			assert.Equal(t, tc.want, got)
		})
	}
	cancel()
	for _, ch := range chans {
		requireClosed(t, ch)
	}
}

func TestPurgeLogs(t *testing.T) {
	t.Parallel()
	s := openTest(t, Config{})
	ctx := t.Context()
	_, err := s.CreateFunction(ctx, testFunction("doomed"))
	require.NoError(t, err)
	require.NoError(t, s.AppendLog(ctx, "doomed", "", []byte("a")))
	require.NoError(t, s.AppendLog(ctx, "kept", "", []byte("b")))

	require.NoError(t, s.DeleteFunction(ctx, "doomed"))
	recs, err := s.ReadLogs(ctx, "doomed", 0, 0)
	require.NoError(t, err)
	assert.Empty(t, recs)

	require.NoError(t, s.PurgeLogs(ctx, "never-logged"))
	recs, err = s.ReadLogs(ctx, "kept", 0, 0)
	require.NoError(t, err)
	assert.Len(t, recs, 1)
	require.NoError(t, s.PurgeLogs(ctx, "kept"))
	recs, err = s.ReadLogs(ctx, "kept", 0, 0)
	require.NoError(t, err)
	assert.Empty(t, recs)
}

func TestChunkLen(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		data string
		max  int
		want int
	}{
		{"fits", "abc", 10, 3},
		{"exact", "abcd", 4, 4},
		{"split at newline", "ab\ncd\nef", 7, 6},
		{"newline too early", "a\nbcdefghij", 8, 8},
		{"no newline", "abcdefghij", 4, 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, chunkLen([]byte(tc.data), tc.max))
		})
	}
}

func recvRecord(t *testing.T, ch <-chan LogRecord) LogRecord {
	t.Helper()
	select {
	case r, ok := <-ch:
		require.True(t, ok, "follow channel closed early")
		return r
	case <-timeAfter():
		t.Fatal("no log record")
	}
	return LogRecord{}
}

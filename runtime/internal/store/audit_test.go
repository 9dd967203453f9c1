package store

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kumo-dev/kumo/runtime/kumo"
)

func TestAuditStreamIsBounded(t *testing.T) {
	t.Parallel()
	s := openTest(t, Config{AuditMaxMsgs: 5})
	ctx := t.Context()
	for i := 1; i <= 8; i++ {
		seq, err := s.AppendAudit(ctx, fmt.Appendf(nil, `{"n":%d}`, i))
		require.NoError(t, err)
		assert.Equal(t, uint64(i), seq)
	}
	recs, err := s.ReadAudit(ctx, 0, 0)
	require.NoError(t, err)
	require.Len(t, recs, 5, "the oldest records were discarded")
	assert.Equal(t, uint64(4), recs[0].Seq)
	assert.JSONEq(t, `{"n":4}`, string(recs[0].Data))
	assert.Equal(t, uint64(8), recs[4].Seq)

	page, err := s.ReadAudit(ctx, 5, 2)
	require.NoError(t, err)
	require.Len(t, page, 2)
	assert.Equal(t, []uint64{6, 7}, []uint64{page[0].Seq, page[1].Seq})

	none, err := s.ReadAudit(ctx, 8, 10)
	require.NoError(t, err)
	assert.Empty(t, none)
}

func TestAuditStreamByteBound(t *testing.T) {
	t.Parallel()
	s := openTest(t, Config{AuditMaxBytes: 64 << 10})
	ctx := t.Context()
	rec := []byte(`{"x":"` + strings.Repeat("a", 8<<10) + `"}`)
	for range 32 {
		_, err := s.AppendAudit(ctx, rec)
		require.NoError(t, err)
	}
	info, err := s.js.Stream(ctx, auditStream)
	require.NoError(t, err)
	st, err := info.Info(ctx)
	require.NoError(t, err)
	assert.LessOrEqual(t, st.State.Bytes, uint64(64<<10))
	assert.Equal(t, uint64(32), st.State.LastSeq)
}

func TestAppendAuditRejectsBadSizes(t *testing.T) {
	t.Parallel()
	s := openTest(t, Config{})
	for _, data := range [][]byte{nil, {}, make([]byte, MaxAuditRecordSize+1)} {
		_, err := s.AppendAudit(t.Context(), data)
		require.ErrorIs(t, err, kumo.ErrInvalidParameter, "%d bytes", len(data))
	}
}

func TestAuditConfigRejectsNegative(t *testing.T) {
	t.Parallel()
	for _, cfg := range []Config{{AuditMaxBytes: -1}, {AuditMaxMsgs: -1}} {
		cfg.Dir = t.TempDir()
		_, err := Open(t.Context(), cfg)
		require.ErrorContains(t, err, "audit bounds")
	}
}

func TestFollowAudit(t *testing.T) {
	t.Parallel()
	s := openTest(t, Config{})
	ctx := t.Context()
	_, err := s.AppendAudit(ctx, []byte(`{"n":1}`))
	require.NoError(t, err)
	_, err = s.AppendAudit(ctx, []byte(`{"n":2}`))
	require.NoError(t, err)
	ch, err := s.FollowAudit(ctx, 1)
	require.NoError(t, err)
	next := func() AuditRecord {
		select {
		case r, ok := <-ch:
			require.True(t, ok, "follow ended")
			return r
		case <-time.After(waitLimit):
			t.Fatal("no record")
		}
		return AuditRecord{}
	}
	assert.Equal(t, uint64(2), next().Seq)
	_, err = s.AppendAudit(ctx, []byte(`{"n":3}`))
	require.NoError(t, err)
	r := next()
	assert.Equal(t, uint64(3), r.Seq)
	assert.JSONEq(t, `{"n":3}`, string(r.Data))
}

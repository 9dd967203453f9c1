package store

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kumo-dev/kumo/runtime/kumo"
)

func TestFunctionCRUD(t *testing.T) {
	t.Parallel()
	s := openTest(t, Config{})
	ctx := t.Context()

	_, _, err := s.GetFunction(ctx, "hello")
	require.ErrorIs(t, err, kumo.ErrNotFound)

	rev1, err := s.CreateFunction(ctx, testFunction("hello"))
	require.NoError(t, err)
	require.NotZero(t, rev1)

	_, err = s.CreateFunction(ctx, testFunction("hello"))
	require.ErrorIs(t, err, kumo.ErrConflict)

	got, rev, err := s.GetFunction(ctx, "hello")
	require.NoError(t, err)
	assert.Equal(t, rev1, rev)
	assert.Equal(t, testFunction("hello"), got)

	upd := testFunction("hello")
	upd.Timeout = 10
	rev2, err := s.UpdateFunction(ctx, upd, rev1)
	require.NoError(t, err)
	assert.Greater(t, rev2, rev1)

	got, rev, err = s.GetFunction(ctx, "hello")
	require.NoError(t, err)
	assert.Equal(t, rev2, rev)
	assert.Equal(t, 10, got.Timeout)

	require.NoError(t, s.DeleteFunction(ctx, "hello"))
	_, _, err = s.GetFunction(ctx, "hello")
	require.ErrorIs(t, err, kumo.ErrNotFound)
	require.ErrorIs(t, s.DeleteFunction(ctx, "hello"), kumo.ErrNotFound)
	_, err = s.UpdateFunction(ctx, upd, rev2)
	require.ErrorIs(t, err, kumo.ErrNotFound)

	// A deleted name can be created again.
	_, err = s.CreateFunction(ctx, testFunction("hello"))
	require.NoError(t, err)
}

func TestUpdateFunctionRevisions(t *testing.T) {
	t.Parallel()
	s := openTest(t, Config{})
	ctx := t.Context()
	rev1, err := s.CreateFunction(ctx, testFunction("fn"))
	require.NoError(t, err)
	rev2, err := s.UpdateFunction(ctx, testFunction("fn"), rev1)
	require.NoError(t, err)

	tests := []struct {
		name    string
		fn      string
		rev     uint64
		wantErr error
	}{
		{"stale revision", "fn", rev1, kumo.ErrConflict},
		{"future revision", "fn", rev2 + 100, kumo.ErrConflict},
		{"zero revision on existing", "fn", 0, kumo.ErrConflict},
		{"zero revision on missing never creates", "missing", 0, kumo.ErrNotFound},
		{"missing function", "missing", rev2, kumo.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := testFunction(tc.fn)
			f.Description = "must not be stored"
			_, err := s.UpdateFunction(ctx, f, tc.rev)
			require.ErrorIs(t, err, tc.wantErr)
		})
	}
	got, rev, err := s.GetFunction(ctx, "fn")
	require.NoError(t, err)
	assert.Equal(t, rev2, rev)
	assert.Empty(t, got.Description)
	_, _, err = s.GetFunction(ctx, "missing")
	require.ErrorIs(t, err, kumo.ErrNotFound)
}

func TestConcurrentUpdatesOnlyOneWins(t *testing.T) {
	t.Parallel()
	s := openTest(t, Config{})
	ctx := t.Context()
	rev, err := s.CreateFunction(ctx, testFunction("race"))
	require.NoError(t, err)

	const writers = 8
	errs := make(chan error, writers)
	for i := range writers {
		go func() {
			f := testFunction("race")
			f.Description = fmt.Sprint(i)
			_, err := s.UpdateFunction(ctx, f, rev)
			errs <- err
		}()
	}
	var wins, conflicts int
	for range writers {
		err := <-errs
		switch {
		case err == nil:
			wins++
		case errors.Is(err, kumo.ErrConflict):
			conflicts++
		default:
			t.Fatalf("unexpected error: %v", err)
		}
	}
	assert.Equal(t, 1, wins)
	assert.Equal(t, writers-1, conflicts)
}

func TestListFunctionsSorted(t *testing.T) {
	t.Parallel()
	s := openTest(t, Config{})
	ctx := t.Context()

	fns, err := s.ListFunctions(ctx)
	require.NoError(t, err)
	assert.Empty(t, fns)

	for _, n := range []string{"zeta", "alpha", "Mid", "beta-1", "deleted"} {
		_, err := s.CreateFunction(ctx, testFunction(n))
		require.NoError(t, err)
	}
	require.NoError(t, s.DeleteFunction(ctx, "deleted"))

	fns, err = s.ListFunctions(ctx)
	require.NoError(t, err)
	var names []string
	for _, f := range fns {
		names = append(names, f.Name)
	}
	assert.Equal(t, []string{"Mid", "alpha", "beta-1", "zeta"}, names)
}

func TestWatchFunctions(t *testing.T) {
	t.Parallel()
	s := openTest(t, Config{})
	ctx := t.Context()
	revA, err := s.CreateFunction(ctx, testFunction("a"))
	require.NoError(t, err)

	wctx, cancel := context.WithCancel(ctx)
	events, err := s.WatchFunctions(wctx)
	require.NoError(t, err)

	ev := recvEvent(t, events)
	assert.Equal(t, FunctionEvent{Name: "a", Function: testFunction("a"), Revision: revA}, ev)

	revB, err := s.CreateFunction(ctx, testFunction("b"))
	require.NoError(t, err)
	upd := testFunction("a")
	upd.MemorySize = 256
	revA2, err := s.UpdateFunction(ctx, upd, revA)
	require.NoError(t, err)
	require.NoError(t, s.DeleteFunction(ctx, "b"))

	ev = recvEvent(t, events)
	assert.Equal(t, FunctionEvent{Name: "b", Function: testFunction("b"), Revision: revB}, ev)
	ev = recvEvent(t, events)
	assert.Equal(t, FunctionEvent{Name: "a", Function: upd, Revision: revA2}, ev)
	ev = recvEvent(t, events)
	assert.Equal(t, "b", ev.Name)
	assert.Nil(t, ev.Function)
	assert.Greater(t, ev.Revision, revA2)

	cancel()
	requireClosed(t, events)
}

func TestWatchClosedByStoreClose(t *testing.T) {
	t.Parallel()
	s, err := Open(t.Context(), Config{Dir: t.TempDir()})
	require.NoError(t, err)
	events, err := s.WatchFunctions(t.Context())
	require.NoError(t, err)
	require.NoError(t, s.Close())
	requireClosed(t, events)
}

func TestWatchSkipsForeignValues(t *testing.T) {
	t.Parallel()
	s := openTest(t, Config{})
	ctx := t.Context()
	// Written behind the store's back: garbage, and a value claiming to
	// be another function.
	_, err := s.kv.Put(ctx, "junk", []byte("{not json"))
	require.NoError(t, err)
	data, err := s.encodeFunction(testFunction("victim"))
	require.NoError(t, err)
	_, err = s.kv.Put(ctx, "impostor", data)
	require.NoError(t, err)
	_, err = s.CreateFunction(ctx, testFunction("good"))
	require.NoError(t, err)

	events, err := s.WatchFunctions(ctx)
	require.NoError(t, err)
	ev := recvEvent(t, events)
	assert.Equal(t, "good", ev.Name)

	_, _, err = s.GetFunction(ctx, "impostor")
	require.Error(t, err)
	_, err = s.ListFunctions(ctx)
	require.Error(t, err)
}

func TestHostileFunctionNames(t *testing.T) {
	t.Parallel()
	s := openTest(t, Config{})
	ctx := t.Context()
	for _, n := range []string{"a", "b"} {
		_, err := s.CreateFunction(ctx, testFunction(n))
		require.NoError(t, err)
		require.NoError(t, s.AppendLog(ctx, n, "r", []byte("line\n")))
	}

	names := []string{
		"", "a.b", "*", ">", "a b", "a.*", "a.>", " a", "a\n", "a\x00",
		"../a", "$KV.kumo_functions.a", "\u00e9", string(make([]byte, 65)),
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", // 65
	}
	ops := map[string]func(name string) error{
		"get": func(n string) error { _, _, err := s.GetFunction(ctx, n); return err },
		"create": func(n string) error {
			_, err := s.CreateFunction(ctx, testFunction(n))
			return err
		},
		"update": func(n string) error {
			_, err := s.UpdateFunction(ctx, testFunction(n), 1)
			return err
		},
		"delete": func(n string) error { return s.DeleteFunction(ctx, n) },
		"append": func(n string) error { return s.AppendLog(ctx, n, "r", []byte("x")) },
		"read":   func(n string) error { _, err := s.ReadLogs(ctx, n, 0, 10); return err },
		"follow": func(n string) error { _, err := s.FollowLogs(ctx, n, 0); return err },
		"purge":  func(n string) error { return s.PurgeLogs(ctx, n) },
	}
	for opName, op := range ops {
		for _, n := range names {
			t.Run(fmt.Sprintf("%s/%q", opName, n), func(t *testing.T) {
				err := op(n)
				require.ErrorIs(t, err, kumo.ErrInvalidParameter)
				var ke *kumo.Error
				require.ErrorAs(t, err, &ke)
			})
		}
	}

	_, err := s.CreateFunction(ctx, nil)
	require.ErrorIs(t, err, kumo.ErrInvalidParameter)

	// Nothing else was touched.
	fns, err := s.ListFunctions(ctx)
	require.NoError(t, err)
	require.Len(t, fns, 2)
	for _, n := range []string{"a", "b"} {
		recs, err := s.ReadLogs(ctx, n, 0, 0)
		require.NoError(t, err)
		assert.Len(t, recs, 1, n)
	}
}

func recvEvent(t *testing.T, ch <-chan FunctionEvent) FunctionEvent {
	t.Helper()
	select {
	case ev, ok := <-ch:
		require.True(t, ok, "watch channel closed early")
		return ev
	case <-t.Context().Done():
		t.Fatal("test context done")
	case <-timeAfter():
		t.Fatal("no watch event")
	}
	return FunctionEvent{}
}

func requireClosed[T any](t *testing.T, ch <-chan T) {
	t.Helper()
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-timeAfter():
			t.Fatal("channel not closed")
		}
	}
}

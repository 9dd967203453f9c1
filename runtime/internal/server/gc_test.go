package server_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kumo-dev/kumo/runtime/image"
	"github.com/kumo-dev/kumo/runtime/internal/control"
	"github.com/kumo-dev/kumo/runtime/internal/server"
	"github.com/kumo-dev/kumo/runtime/internal/store"
	"github.com/kumo-dev/kumo/runtime/kumo"
)

func TestCollectGarbageEndpoint(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(t.Context(), store.Config{Dir: dir})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	imgs, err := image.Open(dir + "/images")
	require.NoError(t, err)
	ctl := control.New(st, imgs, kumo.Scope{Region: "local", Account: "000000000000"})
	var got []time.Duration
	collect := func(_ context.Context, grace time.Duration) (any, error) {
		got = append(got, grace)
		return image.GCStats{Blobs: 2}, nil
	}
	ts := httptest.NewServer(server.New(ctl, nil, noLogs{}, allow{}, server.WithCollector(collect)))
	t.Cleanup(ts.Close)

	for _, tc := range []struct {
		query  string
		status int
		grace  time.Duration
	}{
		{"", http.StatusOK, -1},
		{"?grace=0s", http.StatusOK, 0},
		{"?grace=90m", http.StatusOK, 90 * time.Minute},
		{"?grace=-1s", http.StatusBadRequest, 0},
		{"?grace=soon", http.StatusBadRequest, 0},
		{"?grace=100000h", http.StatusBadRequest, 0},
		{"?grace=1e400s", http.StatusBadRequest, 0},
	} {
		t.Run(tc.query, func(t *testing.T) {
			before := len(got)
			resp, body := do(t, http.MethodPost, ts.URL+"/kumo/v1/gc"+tc.query, nil, nil)
			require.Equal(t, tc.status, resp.StatusCode, "%v", body)
			if tc.status != http.StatusOK {
				require.Len(t, got, before, "a bad request never collects")
				require.Equal(t, "InvalidParameterValueException", resp.Header.Get("X-Amzn-ErrorType"))
				return
			}
			require.Equal(t, float64(2), body["blobs"])
			require.Equal(t, tc.grace, got[len(got)-1])
		})
	}
	resp, _ := do(t, http.MethodGet, ts.URL+"/kumo/v1/gc", nil, nil)
	require.NotEqual(t, http.StatusOK, resp.StatusCode)
}

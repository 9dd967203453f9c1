package server_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kumo-dev/kumo/runtime/image"
	"github.com/kumo-dev/kumo/runtime/internal/auth"
	"github.com/kumo-dev/kumo/runtime/internal/control"
	"github.com/kumo-dev/kumo/runtime/internal/registry"
	"github.com/kumo-dev/kumo/runtime/internal/server"
	"github.com/kumo-dev/kumo/runtime/internal/store"
	"github.com/kumo-dev/kumo/runtime/kumo"
)

// TestRegistryRoute: /v2/ reaches the registry with its own Basic auth,
// while the rest of the API still demands SigV4 (deny rejects every
// signature here).
func TestRegistryRoute(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(t.Context(), store.Config{Dir: dir})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	imgs, err := image.Open(dir + "/images")
	require.NoError(t, err)
	creds := auth.Credentials{AccessKeyID: "AKIASERVERTEST000001", SecretAccessKey: "server-test-secret-0123456789"}
	reg, err := registry.New(imgs, creds)
	require.NoError(t, err)
	ctl := control.New(st, imgs, kumo.Scope{Region: "local", Account: "000000000000"})
	ts := httptest.NewServer(server.New(ctl, nil, noLogs{}, deny{}, server.WithRegistry(reg)))
	t.Cleanup(ts.Close)

	for _, tc := range []struct {
		name, path string
		basic      bool
		status     int
		challenge  string
	}{
		{"registry with credentials", "/v2/", true, http.StatusOK, ""},
		{"registry without the slash", "/v2", true, http.StatusOK, ""},
		{"registry endpoint", "/v2/team/app/tags/list", true, http.StatusNotFound, ""},
		{"registry without credentials", "/v2/", false, http.StatusUnauthorized, `Basic realm="kumo"`},
		{"API with Basic credentials", "/2015-03-31/functions", true, http.StatusForbidden, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, ts.URL+tc.path, nil)
			require.NoError(t, err)
			if tc.basic {
				req.SetBasicAuth(creds.AccessKeyID, creds.SecretAccessKey)
			}
			resp, err := ts.Client().Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			require.Equal(t, tc.status, resp.StatusCode)
			require.Equal(t, tc.challenge, resp.Header.Get("WWW-Authenticate"))
		})
	}
}

package server_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kumo-dev/kumo/runtime/image"
	"github.com/kumo-dev/kumo/runtime/internal/control"
	"github.com/kumo-dev/kumo/runtime/internal/server"
	"github.com/kumo-dev/kumo/runtime/internal/store"
	"github.com/kumo-dev/kumo/runtime/kumo"
	"github.com/kumo-dev/kumo/runtime/runtimes"
)

func TestRuntimesAPI(t *testing.T) {
	if _, err := os.Stat("/var/lib/dpkg/status"); err != nil {
		t.Skip("needs a Debian host: no /var/lib/dpkg/status")
	}
	t.Parallel()
	dir := t.TempDir()
	st, err := store.Open(t.Context(), store.Config{Dir: dir})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	imgs, err := image.Open(dir + "/images")
	require.NoError(t, err)
	b, err := runtimes.New(imgs)
	require.NoError(t, err)
	ctl := control.New(st, imgs, kumo.Scope{Region: "local", Account: "000000000000"})
	ts := httptest.NewServer(server.New(ctl, &recordingInvoker{}, noLogs{}, allow{}, server.WithRuntimes(b)))
	t.Cleanup(ts.Close)

	list := func() map[string]runtimes.Info {
		resp, err := http.Get(ts.URL + "/kumo/v1/runtimes")
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		var infos []runtimes.Info
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&infos))
		out := map[string]runtimes.Info{}
		for _, i := range infos {
			out[i.Name] = i
		}
		return out
	}
	before := list()
	require.Len(t, before, len(runtimes.Supported()))
	assert.False(t, before["provided.al2023"].Built)
	assert.Equal(t, []string{"/usr/bin/python3.11", "/var/runtime/bootstrap.py"}, before["python3.11"].Entrypoint)

	resp, body := do(t, "POST", ts.URL+"/kumo/v1/runtimes/provided.al2023/build", nil, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	assert.Equal(t, true, body["built"])
	digest, _ := body["digest"].(string)
	assert.Regexp(t, `^sha256:[0-9a-f]{64}$`, digest)
	after := list()
	assert.True(t, after["provided.al2023"].Built)
	assert.Equal(t, digest, after["provided.al2023"].Digest)
	assert.True(t, slices.ContainsFunc(after["provided.al2023"].Packages, func(p string) bool { return strings.HasPrefix(p, "libc6=2.") }),
		"packages with versions: %v", after["provided.al2023"].Packages)

	resp, body = do(t, "POST", ts.URL+"/kumo/v1/runtimes/provided.al2023/build?force=true", nil, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	assert.Equal(t, digest, body["digest"], "a rebuild from the same packages is the same image")

	resp, body = do(t, "POST", ts.URL+"/kumo/v1/runtimes/dotnet8/build", nil, nil)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Equal(t, "InvalidParameterValueException", resp.Header.Get("x-amzn-ErrorType"))
	assert.Contains(t, body["message"], "Supported runtimes: [java17, nodejs20.x, provided.al2, provided.al2023, python3.11, ruby3.1]")

	resp, _ = do(t, "POST", ts.URL+"/kumo/v1/runtimes/provided.al2023/build?force=maybe", nil, nil)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
}

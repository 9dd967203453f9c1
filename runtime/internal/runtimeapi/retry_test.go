package runtimeapi_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kumo-dev/kumo/runtime/internal/runtimeapi"
)

// A retried async event runs again under its own request id on the same
// warm instance; the second delivery must reach the runtime.
func TestServer_SameRequestIDAgain(t *testing.T) {
	t.Parallel()
	s, rt := newServer(t)
	for i := range 3 {
		ch := invokeAsync(t.Context(), s, runtimeapi.Invocation{RequestID: "event-1", Payload: []byte(`{}`)})
		resp := rt.next()
		require.Equal(t, http.StatusOK, resp.StatusCode, "delivery %d", i)
		_ = resp.Body.Close()
		require.Equal(t, "event-1", resp.Header.Get("Lambda-Runtime-Aws-Request-Id"))
		status, _ := rt.post("/2018-06-01/runtime/invocation/event-1/response", []byte(`{"n":1}`), nil)
		require.Equal(t, http.StatusAccepted, status, "delivery %d", i)
		res := await(t, ch)
		require.NoError(t, res.err)
		assert.JSONEq(t, `{"n":1}`, string(res.res.Payload))
	}
}

package e2e

import (
	"context"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/stretchr/testify/require"
)

func TestRootRestart_CleanRestartKeepsFunctions(t *testing.T) {
	a := artifacts(t)
	dir := newDataDir(t)
	h1 := newHost(t, dir)
	one := h1.createFn(t, "rs-one", a.fnZip, withEnv(map[string]string{"GREETING": "persisted"}))
	two := h1.createFn(t, "rs-two", a.v2Zip)
	_, err := h1.lambda.TagResource(t.Context(), &lambda.TagResourceInput{
		Resource: aws.String("arn:aws:lambda:local:000000000000:function:" + one), Tags: map[string]string{"k": "v"},
	})
	require.NoError(t, err)
	out, _ := h1.invoke(t, one, map[string]any{"mode": "echo"}) // leaves a warm sandbox
	require.Nil(t, out.FunctionError)
	before := map[string]*lambda.GetFunctionConfigurationOutput{}
	for _, n := range []string{one, two} {
		cfg, err := h1.lambda.GetFunctionConfiguration(t.Context(), &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(n)})
		require.NoError(t, err)
		before[n] = cfg
	}
	require.NoError(t, h1.stop(), "clean shutdown exits 0")
	requireNoLeftovers(t, dir, one, two)

	h2 := newHost(t, dir)
	require.Equal(t, h1.creds, h2.creds, "credentials survive a restart")
	for _, n := range []string{one, two} {
		cfg, err := h2.lambda.GetFunctionConfiguration(t.Context(), &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(n)})
		require.NoError(t, err, n)
		require.Equal(t, aws.ToString(before[n].CodeSha256), aws.ToString(cfg.CodeSha256))
		require.Equal(t, aws.ToString(before[n].RevisionId), aws.ToString(cfg.RevisionId))
		require.Equal(t, aws.ToString(before[n].LastModified), aws.ToString(cfg.LastModified))
	}
	out, body := h2.invoke(t, one, map[string]any{"mode": "echo"})
	require.Nil(t, out.FunctionError, "%v", body)
	require.Equal(t, "persisted", body["env"].(map[string]any)["GREETING"])
	inv, err := h2.lambda.Invoke(t.Context(), &lambda.InvokeInput{FunctionName: aws.String(two), Payload: []byte(`{}`)})
	require.NoError(t, err)
	require.JSONEq(t, `{"greeting":"hello from v2"}`, string(inv.Payload))
	tags, err := h2.lambda.ListTags(t.Context(), &lambda.ListTagsInput{Resource: aws.String("arn:aws:lambda:local:000000000000:function:" + one)})
	require.NoError(t, err)
	require.Equal(t, map[string]string{"k": "v"}, tags.Tags)

	require.NoError(t, h2.stop())
	requireNoLeftovers(t, dir, one, two)
}

func TestRootRestart_KillWhileWarmAndBusy(t *testing.T) {
	a := artifacts(t)
	dir := newDataDir(t)
	h1 := newHost(t, dir)
	warm := h1.createFn(t, "rk-warm", a.fnZip)
	busy := h1.createFn(t, "rk-busy", a.fnZip, withTimeout(60))
	out, _ := h1.invoke(t, warm, map[string]any{"mode": "echo"})
	require.Nil(t, out.FunctionError)

	// An invocation that is still sleeping when the server dies.
	invokeDone := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		_, err := h1.lambda.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(busy), Payload: []byte(`{"mode":"sleep","ms":45000}`)})
		invokeDone <- err
	}()
	eventually(t, 30*time.Second, func() bool { return len(fnProcs(busy)) > 0 && len(fnProcs(warm)) > 0 },
		"sandboxes of %s and %s are running", warm, busy)
	time.Sleep(300 * time.Millisecond) // let the sleeper get into its handler
	oldPIDs := append(fnProcs(warm), fnProcs(busy)...)
	t.Logf("sandbox processes before SIGKILL: %v", oldPIDs)

	err := h1.signal(syscall.SIGKILL, 30*time.Second)
	require.Error(t, err, "killed")
	select {
	case err := <-invokeDone:
		require.Error(t, err, "the in-flight invoke cannot succeed once the server is dead")
	case <-time.After(30 * time.Second):
		t.Fatal("the in-flight invoke did not end after the server was killed")
	}

	h2 := newHost(t, dir)
	// Orphans of the dead server are gone once the new one is up.
	eventually(t, 30*time.Second, func() bool {
		for _, pid := range oldPIDs {
			if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil && isFnProc(pid, warm, busy) {
				return false
			}
		}
		return true
	}, "sandbox processes of the killed server survive the restart: %s", procDesc(oldPIDs))
	for _, n := range []string{warm, busy} {
		out, body := h2.invoke(t, n, map[string]any{"mode": "echo"})
		require.Nil(t, out.FunctionError, "%s after restart: %v", n, body)
	}
	out, body := h2.invoke(t, busy, map[string]any{"mode": "sleep", "ms": 100})
	require.Nil(t, out.FunctionError, "%v", body)

	require.NoError(t, h2.stop())
	requireNoLeftovers(t, dir, warm, busy)
}

func isFnProc(pid int, names ...string) bool {
	for _, n := range names {
		for _, p := range fnProcs(n) {
			if p == pid {
				return true
			}
		}
	}
	return false
}

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/stretchr/testify/require"
)

type layerVersionOut struct {
	LayerArn, LayerVersionArn, Description, LicenseInfo, CreatedDate string
	Version                                                          int64
	CompatibleRuntimes, CompatibleArchitectures                      []string
	Content                                                          struct {
		CodeSha256 string
		CodeSize   int64
	}
}

// publishLayer writes zip to a file and publishes it with the aws CLI.
func (h *host) publishLayer(t *testing.T, name string, zip []byte, args ...string) layerVersionOut {
	t.Helper()
	path := filepath.Join(t.TempDir(), name+".zip")
	require.NoError(t, os.WriteFile(path, zip, 0o644))
	var out layerVersionOut
	h.awsJSON(t, &out, append([]string{"publish-layer-version", "--layer-name", name, "--zip-file", "fileb://" + path}, args...)...)
	require.Equal(t, codeSha256(zip), out.Content.CodeSha256)
	require.Equal(t, int64(len(zip)), out.Content.CodeSize)
	t.Cleanup(func() {
		if h.running() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, _ = h.lambda.DeleteLayerVersion(ctx, &lambda.DeleteLayerVersionInput{LayerName: aws.String(name), VersionNumber: aws.Int64(out.Version)})
		}
	})
	return out
}

// readFile invokes the test function's readfile mode.
func (h *host) readFile(t *testing.T, fn, path string) string {
	t.Helper()
	out, body := h.invoke(t, fn, map[string]any{"mode": "readfile", "path": path})
	require.Nil(t, out.FunctionError, "%v", body)
	require.Equal(t, "ok", body["error"], "read %s: %v", path, body)
	return body["content"].(string)
}

func TestRootCLI_Layers(t *testing.T) {
	h := sharedHost(t)
	a := artifacts(t)
	one, two := uniqueName("layer-one"), uniqueName("layer-two")

	l1 := h.publishLayer(t, one, mustZip(t,
		zipEntry{name: "lib/greeting.txt", data: []byte("hello from one")},
		zipEntry{name: "lib/one.txt", data: []byte("only in one")},
	), "--description", "greetings", "--compatible-runtimes", testRuntime, "--compatible-architectures", "x86_64", "--license-info", "MIT")
	require.Equal(t, int64(1), l1.Version)
	require.Equal(t, "arn:aws:lambda:local:000000000000:layer:"+one, l1.LayerArn)
	require.Equal(t, l1.LayerArn+":1", l1.LayerVersionArn)
	require.Equal(t, []string{testRuntime}, l1.CompatibleRuntimes)
	require.Equal(t, []string{"x86_64"}, l1.CompatibleArchitectures)
	require.Equal(t, "MIT", l1.LicenseInfo)
	require.NotEmpty(t, l1.CreatedDate)

	var got layerVersionOut
	h.awsJSON(t, &got, "get-layer-version", "--layer-name", one, "--version-number", "1")
	require.Equal(t, l1, got)
	h.awsJSON(t, &got, "get-layer-version-by-arn", "--arn", l1.LayerVersionArn)
	require.Equal(t, l1, got)

	fn := uniqueName("layered")
	var cfg struct {
		Layers []struct {
			Arn      string
			CodeSize int64
		}
	}
	h.awsJSON(t, &cfg, "create-function", "--function-name", fn, "--runtime", testRuntime,
		"--handler", "bootstrap", "--role", testRole, "--zip-file", "fileb://"+a.fnPath, "--layers", l1.LayerVersionArn)
	h.deleteAtCleanup(t, fn)
	require.Len(t, cfg.Layers, 1)
	require.Equal(t, l1.LayerVersionArn, cfg.Layers[0].Arn)
	require.Equal(t, l1.Content.CodeSize, cfg.Layers[0].CodeSize)
	require.Equal(t, "hello from one", h.readFile(t, fn, "/opt/lib/greeting.txt"))

	t.Run("list", func(t *testing.T) {
		var layers struct {
			Layers []struct {
				LayerName, LayerArn   string
				LatestMatchingVersion struct {
					LayerVersionArn string
					Version         int64
				}
			}
		}
		h.awsJSON(t, &layers, "list-layers", "--compatible-runtime", testRuntime)
		found := false
		for _, l := range layers.Layers {
			if l.LayerName == one {
				found = true
				require.Equal(t, l1.LayerArn, l.LayerArn)
				require.Equal(t, l1.LayerVersionArn, l.LatestMatchingVersion.LayerVersionArn)
			}
		}
		require.True(t, found, "list-layers: %+v", layers)
		var versions struct{ LayerVersions []struct{ Version int64 } }
		h.awsJSON(t, &versions, "list-layer-versions", "--layer-name", one)
		require.Len(t, versions.LayerVersions, 1)
		require.Equal(t, int64(1), versions.LayerVersions[0].Version)
	})

	// Deleting the layer version leaves the function working, also from a
	// cold start after a configuration change.
	for range 2 {
		h.awsJSON(t, nil, "delete-layer-version", "--layer-name", one, "--version-number", "1")
	}
	requireCLIError(t, h.aws(t, "get-layer-version", "--layer-name", one, "--version-number", "1"), "ResourceNotFoundException")
	require.Equal(t, "hello from one", h.readFile(t, fn, "/opt/lib/greeting.txt"))
	h.awsJSON(t, nil, "update-function-configuration", "--function-name", fn, "--environment", "Variables={GREETING=cold}")
	require.Equal(t, "hello from one", h.readFile(t, fn, "/opt/lib/greeting.txt"))
	requireCLIError(t, h.aws(t, "update-function-configuration", "--function-name", fn, "--layers", l1.LayerVersionArn), "InvalidParameterValueException")

	// Numbering continues after a delete; layers apply in order, later ones
	// overwriting earlier ones.
	l1v2 := h.publishLayer(t, one, mustZip(t,
		zipEntry{name: "lib/greeting.txt", data: []byte("hello from one v2")},
		zipEntry{name: "lib/one.txt", data: []byte("only in one")},
	))
	require.Equal(t, int64(2), l1v2.Version)
	l2 := h.publishLayer(t, two, mustZip(t, zipEntry{name: "lib/greeting.txt", data: []byte("hello from two")}))
	h.awsJSON(t, &cfg, "update-function-configuration", "--function-name", fn, "--layers", l1v2.LayerVersionArn, l2.LayerVersionArn)
	require.Len(t, cfg.Layers, 2)
	require.Equal(t, []string{l1v2.LayerVersionArn, l2.LayerVersionArn}, []string{cfg.Layers[0].Arn, cfg.Layers[1].Arn})
	require.Equal(t, "hello from two", h.readFile(t, fn, "/opt/lib/greeting.txt"))
	require.Equal(t, "only in one", h.readFile(t, fn, "/opt/lib/one.txt"))
	h.awsJSON(t, &cfg, "update-function-configuration", "--function-name", fn, "--layers", l2.LayerVersionArn, l1v2.LayerVersionArn)
	require.Equal(t, "hello from one v2", h.readFile(t, fn, "/opt/lib/greeting.txt"))

	t.Run("bad input", func(t *testing.T) {
		six := []string{"update-function-configuration", "--function-name", fn, "--layers"}
		for i := range 6 {
			six = append(six, fmt.Sprintf("%s:%d", l1.LayerArn, i+1))
		}
		requireCLIError(t, h.aws(t, six...), "InvalidParameterValueException")
		r := h.aws(t, "create-function", "--function-name", uniqueName("layer-missing"), "--runtime", testRuntime,
			"--handler", "bootstrap", "--role", testRole, "--zip-file", "fileb://"+a.fnPath, "--layers", l1.LayerArn+":99")
		requireCLIError(t, r, "InvalidParameterValueException")
		require.Contains(t, r.stderr, "Layer version "+l1.LayerArn+":99 does not exist.")
		requireCLIError(t, h.aws(t, "update-function-configuration", "--function-name", fn,
			"--layers", "arn:aws:lambda:local:111111111111:layer:"+two+":1"), "InvalidParameterValueException")
		requireCLIError(t, h.aws(t, "publish-layer-version", "--layer-name", "bad name", "--zip-file", "fileb://"+a.fnPath), "InvalidParameterValueException")
		raw := h.raw(t, "GET", "/2018-10-31/layers/"+one+"/versions/1", nil, nil, true)
		require.Equal(t, 404, raw.status, "%s", raw)
	})
}

// A custom runtime can come from a layer: the function's own zip has no
// bootstrap, and /opt/bootstrap runs.
func TestRootCLI_LayerBootstrap(t *testing.T) {
	h := sharedHost(t)
	a := artifacts(t)
	rt := uniqueName("layer-runtime")
	l := h.publishLayer(t, rt, mustZip(t, zipEntry{name: "bootstrap", data: a.fnBinary(t), mode: 0o755}))

	code := filepath.Join(t.TempDir(), "readme.zip")
	require.NoError(t, os.WriteFile(code, mustZip(t, zipEntry{name: "README", data: []byte("code lives in a layer")}), 0o644))
	fn := uniqueName("layer-boot")
	h.awsJSON(t, nil, "create-function", "--function-name", fn, "--runtime", testRuntime,
		"--handler", "bootstrap", "--role", testRole, "--zip-file", "fileb://"+code, "--layers", l.LayerVersionArn)
	h.deleteAtCleanup(t, fn)

	out, body := h.invoke(t, fn, map[string]any{"mode": "readfile", "path": "/var/task/README"})
	require.Nil(t, out.FunctionError, "%v", body)
	require.Equal(t, "code lives in a layer", body["content"])
	require.Equal(t, "/opt/bootstrap", body["executable"])
}

package server_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const layersPath = "/2018-10-31/layers"

func publishLayerBody(t *testing.T, extra map[string]any) []byte {
	t.Helper()
	body := map[string]any{"Content": map[string]any{"ZipFile": base64.StdEncoding.EncodeToString(zipBytes(t))}}
	for k, v := range extra {
		body[k] = v
	}
	b, err := json.Marshal(body)
	require.NoError(t, err)
	return b
}

func TestLayersWire(t *testing.T) {
	t.Parallel()
	ts, _ := newServer(t, allow{})
	u := ts.URL + layersPath
	const arn = "arn:aws:lambda:local:000000000000:layer:lib"

	resp, body := do(t, "POST", u+"/lib/versions", publishLayerBody(t, map[string]any{
		"Description": "d", "CompatibleRuntimes": []string{"provided.al2023"}, "CompatibleArchitectures": []string{"x86_64"}, "LicenseInfo": "MIT",
	}), nil)
	require.Equal(t, http.StatusCreated, resp.StatusCode, "%v", body)
	sum := sha256.Sum256(zipBytes(t))
	assert.Equal(t, map[string]any{"CodeSha256": base64.StdEncoding.EncodeToString(sum[:]), "CodeSize": float64(len(zipBytes(t)))}, body["Content"])
	assert.Equal(t, arn, body["LayerArn"])
	assert.Equal(t, arn+":1", body["LayerVersionArn"])
	assert.Equal(t, float64(1), body["Version"])
	assert.Equal(t, "d", body["Description"])
	assert.Equal(t, "MIT", body["LicenseInfo"])
	assert.Equal(t, []any{"provided.al2023"}, body["CompatibleRuntimes"])
	assert.Equal(t, []any{"x86_64"}, body["CompatibleArchitectures"])
	assert.Regexp(t, `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$`, body["CreatedDate"])
	published := body

	// Publishing by layer ARN continues the numbering.
	resp, body = do(t, "POST", u+"/"+url.PathEscape(arn)+"/versions", publishLayerBody(t, nil), nil)
	require.Equal(t, http.StatusCreated, resp.StatusCode, "%v", body)
	assert.Equal(t, float64(2), body["Version"])

	resp, body = do(t, "GET", u+"/lib/versions/1", nil, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%v", body)
	assert.Equal(t, published, body)
	resp, body = do(t, "GET", u+"?find=LayerVersion&Arn="+url.QueryEscape(arn+":1"), nil, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%v", body)
	assert.Equal(t, published, body)

	resp, body = do(t, "GET", u+"/lib/versions?MaxItems=1", nil, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%v", body)
	require.Len(t, body["LayerVersions"], 1)
	assert.Equal(t, arn+":2", body["LayerVersions"].([]any)[0].(map[string]any)["LayerVersionArn"], "newest first")
	assert.Equal(t, "1", body["NextMarker"])
	resp, body = do(t, "GET", u+"/lib/versions?Marker=1", nil, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%v", body)
	require.Len(t, body["LayerVersions"], 1)
	assert.Nil(t, body["NextMarker"])

	resp, body = do(t, "GET", u+"?CompatibleRuntime=provided.al2023", nil, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%v", body)
	assert.Equal(t, []any{map[string]any{
		"LayerName": "lib",
		"LayerArn":  arn,
		"LatestMatchingVersion": map[string]any{
			"LayerVersionArn": arn + ":1", "Version": float64(1), "Description": "d", "CreatedDate": published["CreatedDate"],
			"CompatibleRuntimes": []any{"provided.al2023"}, "CompatibleArchitectures": []any{"x86_64"}, "LicenseInfo": "MIT",
		},
	}}, body["Layers"], "version 2 declares no runtime, so version 1 is the latest match")

	// A function with the layer reports it in its configuration.
	fn := map[string]any{}
	require.NoError(t, json.Unmarshal(createBody(t, "with-layer"), &fn))
	fn["Layers"] = []string{arn + ":2"}
	b, err := json.Marshal(fn)
	require.NoError(t, err)
	resp, body = do(t, "POST", ts.URL+"/2015-03-31/functions", b, nil)
	require.Equal(t, http.StatusCreated, resp.StatusCode, "%v", body)
	assert.Equal(t, []any{map[string]any{"Arn": arn + ":2", "CodeSize": float64(len(zipBytes(t)))}}, body["Layers"])
	resp, body = do(t, "PUT", ts.URL+"/2015-03-31/functions/with-layer/configuration", []byte(`{"Layers":[]}`), nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%v", body)
	assert.NotContains(t, body, "Layers", "[] clears the layers")

	// Delete is idempotent.
	for range 2 {
		resp, _ = do(t, "DELETE", u+"/lib/versions/1", nil, nil)
		assert.Equal(t, http.StatusNoContent, resp.StatusCode)
	}
	resp, body = do(t, "GET", u+"/lib/versions/1", nil, nil)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "%v", body)
	assert.Equal(t, "ResourceNotFoundException", resp.Header.Get("x-amzn-ErrorType"))
}

func TestLayersWire_Errors(t *testing.T) {
	t.Parallel()
	ts, _ := newServer(t, allow{})
	u := ts.URL + layersPath
	resp, _ := do(t, "POST", u+"/lib/versions", publishLayerBody(t, nil), nil)
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	tooMany := make([]string, 6)
	for i := range tooMany {
		tooMany[i] = "arn:aws:lambda:local:000000000000:layer:lib:1"
	}
	fn := func(layers []string) []byte {
		m := map[string]any{}
		require.NoError(t, json.Unmarshal(createBody(t, "fn"), &m))
		m["Layers"] = layers
		b, err := json.Marshal(m)
		require.NoError(t, err)
		return b
	}
	tests := []struct {
		name, method, path string
		body               []byte
		status             int
		code, msg          string
	}{
		{"no content", "POST", "/lib/versions", []byte(`{}`), 400, "InvalidParameterValueException", "content"},
		{"unknown field", "POST", "/lib/versions", []byte(`{"Content":{"ZipFile":""},"Bogus":1}`), 400, "InvalidRequestContentException", "Unrecognized field"},
		{"bad base64", "POST", "/lib/versions", []byte(`{"Content":{"ZipFile":"!!!"}}`), 400, "InvalidRequestContentException", "base64"},
		{"not a zip", "POST", "/lib/versions", []byte(`{"Content":{"ZipFile":"` + base64.StdEncoding.EncodeToString([]byte("text")) + `"}}`), 400, "InvalidParameterValueException", "unzip"},
		{"bad name", "POST", "/bad%20name/versions", publishLayerBody(t, nil), 400, "InvalidParameterValueException", "layerName"},
		{"long description", "POST", "/lib/versions", publishLayerBody(t, map[string]any{"Description": strings.Repeat("d", 257)}), 400, "InvalidParameterValueException", "description"},
		{"bad version", "GET", "/lib/versions/x", nil, 400, "InvalidParameterValueException", "versionNumber"},
		{"missing version", "GET", "/lib/versions/7", nil, 404, "ResourceNotFoundException", "lib:7"},
		{"bad find", "GET", "?find=Everything", nil, 400, "InvalidParameterValueException", "find"},
		{"bad arn", "GET", "?find=LayerVersion&Arn=nope", nil, 400, "InvalidParameterValueException", "arn"},
		{"max items", "GET", "?MaxItems=51", nil, 400, "InvalidParameterValueException", "maxItems"},
		{"runtime filter", "GET", "?CompatibleRuntime=cobol", nil, 400, "InvalidParameterValueException", "compatibleRuntime"},
		{"six layers", "POST", "fn", fn(tooMany), 400, "InvalidParameterValueException", "more than 5 layers"},
		{"missing layer", "POST", "fn", fn([]string{"arn:aws:lambda:local:000000000000:layer:lib:9"}), 400, "InvalidParameterValueException", "does not exist"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			target := u + tc.path
			if tc.path == "fn" {
				target = ts.URL + "/2015-03-31/functions"
			}
			resp, body := do(t, tc.method, target, tc.body, nil)
			require.Equal(t, tc.status, resp.StatusCode, "body: %v", body)
			assert.Equal(t, tc.code, resp.Header.Get("x-amzn-ErrorType"))
			msg, _ := body["message"].(string)
			if msg == "" {
				msg, _ = body["Message"].(string)
			}
			assert.Contains(t, msg, tc.msg)
		})
	}
}

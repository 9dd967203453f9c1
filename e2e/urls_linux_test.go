package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type urlSeen struct {
	Method          string            `json:"method"`
	RawPath         string            `json:"rawPath"`
	RawQueryString  string            `json:"rawQueryString"`
	Query           map[string]string `json:"query"`
	Headers         map[string]string `json:"headers"`
	Cookies         []string          `json:"cookies"`
	Body            []byte            `json:"body"`
	IsBase64Encoded bool              `json:"isBase64Encoded"`
	APIID           string            `json:"apiId"`
	DomainPrefix    string            `json:"domainPrefix"`
	AccountID       string            `json:"accountId"`
	IAMAccessKey    string            `json:"iamAccessKey"`
}

type urlConfigOut struct {
	FunctionUrl, FunctionArn, AuthType, InvokeMode, CreationTime, LastModifiedTime string
	Cors                                                                           map[string]any
}

// urlCall sends a plain (curl-style) request; host overrides the Host
// header; sign signs it with the host's key for service lambda.
func (h *host) urlCall(t *testing.T, method, url string, body []byte, header map[string]string, host string, sign bool) rawResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	require.NoError(t, err)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	if host != "" {
		req.Host = host
	}
	if sign {
		sum := sha256.Sum256(body)
		require.NoError(t, v4.NewSigner().SignHTTP(ctx, h.creds, req, hex.EncodeToString(sum[:]), "lambda", testRegion, time.Now()))
	}
	resp, err := h.http.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return rawResponse{status: resp.StatusCode, header: resp.Header, body: b}
}

func TestRootFunctionURL_NoneAuthRoundTrip(t *testing.T) {
	a := artifacts(t)
	h := sharedHost(t)
	name := h.createFn(t, "url", a.urlZip)

	var cfg urlConfigOut
	h.awsJSON(t, &cfg, "create-function-url-config", "--function-name", name, "--auth-type", "NONE",
		"--cors", `{"AllowOrigins":["https://app.example"],"AllowMethods":["GET","POST"],"AllowHeaders":["x-custom"],"ExposeHeaders":["x-echo-method"],"MaxAge":300}`)
	require.Regexp(t, `^`+h.endpoint+`/lambda-url/[a-z0-9]{32}/$`, cfg.FunctionUrl)
	assert.Equal(t, "NONE", cfg.AuthType)
	assert.Equal(t, "BUFFERED", cfg.InvokeMode)
	assert.Contains(t, cfg.FunctionArn, ":function:"+name)
	id := strings.TrimSuffix(strings.TrimPrefix(cfg.FunctionUrl, h.endpoint+"/lambda-url/"), "/")

	// Without the permission Lambda's rule applies: 403.
	r := h.urlCall(t, "GET", cfg.FunctionUrl, nil, nil, "", false)
	require.Equal(t, http.StatusForbidden, r.status, r.String())
	assert.JSONEq(t, `{"Message":"Forbidden"}`, string(r.body))

	var added struct{ Statement string }
	h.awsJSON(t, &added, "add-permission", "--function-name", name, "--statement-id", "public-url",
		"--action", "lambda:InvokeFunctionUrl", "--principal", "*", "--function-url-auth-type", "NONE")
	var st map[string]any
	require.NoError(t, json.Unmarshal([]byte(added.Statement), &st))
	assert.Equal(t, "*", st["Principal"])
	assert.Equal(t, map[string]any{"StringEquals": map[string]any{"lambda:FunctionUrlAuthType": "NONE"}}, st["Condition"])

	// The 2.0 round trip: method, path, query, headers, cookies, a binary
	// body in; status, headers, cookies and a base64 body out.
	body := []byte{0, 1, 2, 'k', 'u', 'm', 'o', 0xff}
	r = h.urlCall(t, "PUT", cfg.FunctionUrl+"items/42?status=201&tag=a&tag=b", body, map[string]string{
		"Content-Type": "application/octet-stream", "X-Custom": "hello", "Cookie": "session=abc; theme=dark", "Origin": "https://app.example",
	}, "", false)
	require.Equal(t, http.StatusCreated, r.status, r.String())
	assert.Equal(t, "PUT", r.header.Get("X-Echo-Method"))
	assert.ElementsMatch(t, []string{"served=1; Path=/", "other=2"}, r.header.Values("Set-Cookie"))
	assert.Equal(t, "https://app.example", r.header.Get("Access-Control-Allow-Origin"))
	assert.Equal(t, "x-echo-method", r.header.Get("Access-Control-Expose-Headers"))
	var seen urlSeen
	require.NoError(t, json.Unmarshal(r.body, &seen), "%s", r.body)
	assert.Equal(t, "PUT", seen.Method)
	assert.Equal(t, "/items/42", seen.RawPath)
	assert.Equal(t, "status=201&tag=a&tag=b", seen.RawQueryString)
	assert.Equal(t, map[string]string{"status": "201", "tag": "a,b"}, seen.Query)
	assert.Equal(t, "hello", seen.Headers["x-custom"])
	assert.Equal(t, []string{"session=abc", "theme=dark"}, seen.Cookies)
	assert.True(t, seen.IsBase64Encoded)
	assert.Equal(t, body, seen.Body)
	assert.Equal(t, id, seen.APIID)
	assert.Equal(t, id, seen.DomainPrefix)
	assert.Equal(t, testAccount, seen.AccountID)

	// Text bodies arrive as text; the host-name form reaches the same URL.
	r = h.urlCall(t, "POST", h.endpoint+"/via/host", []byte(`{"a":1}`), map[string]string{"Content-Type": "application/json"},
		id+".lambda-url."+testRegion+".on.aws", false)
	require.Equal(t, http.StatusOK, r.status, r.String())
	require.NoError(t, json.Unmarshal(r.body, &seen))
	assert.Equal(t, "/via/host", seen.RawPath)
	assert.False(t, seen.IsBase64Encoded)
	assert.Equal(t, `{"a":1}`, string(seen.Body))

	// aws-lambda-go's streaming response (served buffered).
	r = h.urlCall(t, "GET", cfg.FunctionUrl+"stream", nil, nil, "", false)
	require.Equal(t, http.StatusAccepted, r.status, r.String())
	assert.Equal(t, "yes", r.header.Get("X-Streamed"))
	assert.Equal(t, "streamed body", string(r.body))

	// CORS preflight is answered by the host.
	r = h.urlCall(t, "OPTIONS", cfg.FunctionUrl, nil, map[string]string{"Origin": "https://app.example", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "x-custom"}, "", false)
	require.Equal(t, http.StatusOK, r.status, r.String())
	assert.Equal(t, "https://app.example", r.header.Get("Access-Control-Allow-Origin"))
	assert.Equal(t, "GET,POST", r.header.Get("Access-Control-Allow-Methods"))
	assert.Equal(t, "x-custom", r.header.Get("Access-Control-Allow-Headers"))
	assert.Equal(t, "300", r.header.Get("Access-Control-Max-Age"))
	r = h.urlCall(t, "OPTIONS", cfg.FunctionUrl, nil, map[string]string{"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}, "", false)
	assert.Empty(t, r.header.Get("Access-Control-Allow-Origin"))

	// Over Lambda's 6 MB body limit.
	r = h.urlCall(t, "POST", cfg.FunctionUrl, bytes.Repeat([]byte("x"), maxPayload+1), map[string]string{"Content-Type": "text/plain"}, "", false)
	assert.Equal(t, http.StatusRequestEntityTooLarge, r.status, r.String())

	// get-policy, then remove-permission closes the URL again.
	var pol struct{ Policy, RevisionId string }
	h.awsJSON(t, &pol, "get-policy", "--function-name", name)
	assert.Contains(t, pol.Policy, `"Sid":"public-url"`)
	assert.NotEmpty(t, pol.RevisionId)
	h.awsJSON(t, nil, "remove-permission", "--function-name", name, "--statement-id", "public-url")
	r = h.urlCall(t, "GET", cfg.FunctionUrl, nil, nil, "", false)
	assert.Equal(t, http.StatusForbidden, r.status, r.String())
	requireCLIError(t, h.aws(t, "get-policy", "--function-name", name), "ResourceNotFoundException")

	var list struct{ FunctionUrlConfigs []urlConfigOut }
	h.awsJSON(t, &list, "list-function-url-configs", "--function-name", name)
	require.Len(t, list.FunctionUrlConfigs, 1)
	assert.Equal(t, cfg.FunctionUrl, list.FunctionUrlConfigs[0].FunctionUrl)
	h.awsJSON(t, nil, "delete-function-url-config", "--function-name", name)
	requireCLIError(t, h.aws(t, "get-function-url-config", "--function-name", name), "ResourceNotFoundException")
	r = h.urlCall(t, "GET", cfg.FunctionUrl, nil, nil, "", false)
	assert.Equal(t, http.StatusNotFound, r.status, r.String())
}

func TestRootFunctionURL_IAMAuth(t *testing.T) {
	a := artifacts(t)
	h := sharedHost(t)
	name := h.createFn(t, "urliam", a.urlZip)
	var cfg urlConfigOut
	h.awsJSON(t, &cfg, "create-function-url-config", "--function-name", name, "--auth-type", "AWS_IAM")

	r := h.urlCall(t, "GET", cfg.FunctionUrl+"p?q=1", nil, nil, "", false)
	assert.Equal(t, http.StatusForbidden, r.status, r.String())
	// A signature with another key is refused too.
	other := h.creds
	other.SecretAccessKey = strings.Repeat("x", 40)
	saved := h.creds
	h.creds = other
	r = h.urlCall(t, "GET", cfg.FunctionUrl+"p?q=1", nil, nil, "", true)
	h.creds = saved
	assert.Equal(t, http.StatusForbidden, r.status, r.String())

	r = h.urlCall(t, "POST", cfg.FunctionUrl+"p?q=1", []byte("signed"), map[string]string{"Content-Type": "text/plain"}, "", true)
	require.Equal(t, http.StatusOK, r.status, r.String())
	var seen urlSeen
	require.NoError(t, json.Unmarshal(r.body, &seen))
	assert.Equal(t, "/p", seen.RawPath)
	assert.Equal(t, "signed", string(seen.Body))
	assert.Equal(t, h.creds.AccessKeyID, seen.IAMAccessKey)

	// update-function-url-config switches it to NONE (still no permission).
	var up urlConfigOut
	h.awsJSON(t, &up, "update-function-url-config", "--function-name", name, "--auth-type", "NONE")
	assert.Equal(t, cfg.FunctionUrl, up.FunctionUrl)
	assert.NotEmpty(t, up.LastModifiedTime)
	r = h.urlCall(t, "GET", cfg.FunctionUrl, nil, nil, "", false)
	assert.Equal(t, http.StatusForbidden, r.status, r.String())
}

func TestRootFunctionURL_BadInput(t *testing.T) {
	a := artifacts(t)
	h := sharedHost(t)
	name := h.createFn(t, "urlbad", a.urlZip)

	requireCLIError(t, h.aws(t, "create-function-url-config", "--function-name", name, "--auth-type", "NONE", "--qualifier", "1"), "InvalidParameterValueException")
	requireCLIError(t, h.aws(t, "create-function-url-config", "--function-name", name, "--auth-type", "NONE",
		"--cors", `{"AllowMethods":["GET","PUT","HEAD","POST","PATCH","DELETE","*"]}`), "InvalidParameterValueException")
	requireCLIError(t, h.aws(t, "add-permission", "--function-name", name, "--statement-id", "s",
		"--action", "lambda:InvokeFunction", "--principal", "not-a-principal"), "InvalidParameterValueException")
	requireCLIError(t, h.aws(t, "add-permission", "--function-name", name, "--statement-id", "s",
		"--action", "lambda:InvokeFunction", "--principal", "arn:aws:iam::12:root"), "InvalidParameterValueException")
	h.awsJSON(t, nil, "add-permission", "--function-name", name, "--statement-id", "s3",
		"--action", "lambda:InvokeFunction", "--principal", "s3.amazonaws.com", "--source-arn", "arn:aws:s3:::bucket")
	requireCLIError(t, h.aws(t, "add-permission", "--function-name", name, "--statement-id", "s3",
		"--action", "lambda:InvokeFunction", "--principal", "111122223333"), "ResourceConflictException")
	requireCLIError(t, h.aws(t, "add-permission", "--function-name", name, "--statement-id", "acct",
		"--action", "lambda:InvokeFunction", "--principal", "111122223333", "--revision-id", "stale"), "PreconditionFailedException")
	requireCLIError(t, h.aws(t, "remove-permission", "--function-name", name, "--statement-id", "nope"), "ResourceNotFoundException")
}

func TestRootFunctionURL_Alias(t *testing.T) {
	a := artifacts(t)
	h := sharedHost(t)
	name := h.createFn(t, "urlalias", a.urlZip)
	var v struct{ Version string }
	h.awsJSON(t, &v, "publish-version", "--function-name", name)
	h.awsJSON(t, nil, "create-alias", "--function-name", name, "--name", "live", "--function-version", v.Version)

	var cfg urlConfigOut
	h.awsJSON(t, &cfg, "create-function-url-config", "--function-name", name, "--qualifier", "live", "--auth-type", "NONE")
	assert.True(t, strings.HasSuffix(cfg.FunctionArn, ":"+name+":live"), cfg.FunctionArn)

	// A permission on the unqualified function does not open the alias's URL.
	h.awsJSON(t, nil, "add-permission", "--function-name", name, "--statement-id", "u",
		"--action", "lambda:InvokeFunctionUrl", "--principal", "*", "--function-url-auth-type", "NONE")
	r := h.urlCall(t, "GET", cfg.FunctionUrl, nil, nil, "", false)
	assert.Equal(t, http.StatusForbidden, r.status, r.String())
	h.awsJSON(t, nil, "add-permission", "--function-name", name, "--qualifier", "live", "--statement-id", "u",
		"--action", "lambda:InvokeFunctionUrl", "--principal", "*", "--function-url-auth-type", "NONE")
	r = h.urlCall(t, "GET", cfg.FunctionUrl+"a", nil, nil, "", false)
	require.Equal(t, http.StatusOK, r.status, r.String())
	var seen urlSeen
	require.NoError(t, json.Unmarshal(r.body, &seen))
	assert.Equal(t, "/a", seen.RawPath)
}

package auth

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kumo-dev/kumo/runtime/kumo"
)

// The key pair and time the botocore goldens in testdata were signed with.
var (
	testCreds = Credentials{AccessKeyID: "AKIAKUMOTESTKEY00001", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}
	testTime  = time.Date(2026, 11, 25, 8, 43, 7, 0, time.UTC)
)

const (
	testRegion = "local"
	testHost   = "127.0.0.1:9001"
	arnLatest  = "/2015-03-31/functions/arn%3Aaws%3Alambda%3Alocal%3A000000000000%3Afunction%3Ahello%3A%24LATEST"
)

func testVerifier(opts ...Option) *Verifier {
	return NewVerifier(testCreds, testRegion, "lambda", append([]Option{WithClock(func() time.Time { return testTime })}, opts...)...)
}

// clientRequest is a request as a client builds it before signing.
type clientRequest struct {
	name    string
	method  string
	url     string
	headers [][2]string
	body    string
}

type signParams struct {
	creds   Credentials
	region  string
	service string
	at      time.Time
	// payloadHash overrides the body hash the client signs.
	payloadHash string
}

func defaultSign() signParams {
	return signParams{creds: testCreds, region: testRegion, service: "lambda", at: testTime}
}

// signGo signs cr the way aws-sdk-go-v2 does and returns the bytes it
// would put on the wire.
func signGo(t testing.TB, cr clientRequest, p signParams) []byte {
	t.Helper()
	req, err := http.NewRequest(cr.method, cr.url, strings.NewReader(cr.body))
	require.NoError(t, err)
	for _, h := range cr.headers {
		req.Header.Add(h[0], h[1])
	}
	hash := p.payloadHash
	if hash == "" {
		sum := sha256.Sum256([]byte(cr.body))
		hash = hex.EncodeToString(sum[:])
	}
	err = v4.NewSigner().SignHTTP(t.Context(), aws.Credentials{AccessKeyID: p.creds.AccessKeyID, SecretAccessKey: p.creds.SecretAccessKey},
		req, hash, p.service, p.region, p.at)
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, req.Write(&buf))
	return buf.Bytes()
}

// parseRaw reads a request the way the HTTP server does.
func parseRaw(raw []byte) (*http.Request, []byte, error) {
	r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		return nil, nil, err
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, nil, err
	}
	return r, body, nil
}

func mustParse(t testing.TB, raw []byte) (*http.Request, []byte) {
	t.Helper()
	r, body, err := parseRaw(raw)
	require.NoError(t, err)
	return r, body
}

var goRequests = []clientRequest{
	{
		name:   "get with encoded arn and $LATEST",
		method: http.MethodGet,
		url:    "http://" + testHost + arnLatest,
		headers: [][2]string{
			{"Amz-Sdk-Invocation-Id", "0b1c2d3e-aaaa-bbbb-cccc-000000000001"},
			{"Amz-Sdk-Request", "attempt=1; max=3"},
		},
	},
	{
		name:   "delete with repeated query keys",
		method: http.MethodDelete,
		url:    "http://" + testHost + "/2017-03-31/tags/arn%3Aaws%3Alambda%3Alocal%3A000000000000%3Afunction%3Ahello?tagKeys=b&tagKeys=a",
	},
	{
		name:   "post invoke with body",
		method: http.MethodPost,
		url:    "http://" + testHost + "/2015-03-31/functions/hello/invocations",
		headers: [][2]string{
			{"Content-Type", "application/json"},
			{"X-Amz-Log-Type", "Tail"},
			{"X-Amz-Client-Context", "eyJjdXN0b20iOnt9fQ=="},
			{"Amz-Sdk-Invocation-Id", "0b1c2d3e-aaaa-bbbb-cccc-000000000002"},
		},
		body: `{"name":"kumo"}`,
	},
	{
		name:   "query needing escapes",
		method: http.MethodGet,
		url:    "http://" + testHost + "/2015-03-31/functions/?Marker=a%2Fb%20c%2Bd~e&MaxItems=50&FunctionVersion=ALL",
	},
	{
		name:    "header value with runs of spaces",
		method:  http.MethodPut,
		url:     "http://" + testHost + "/2015-03-31/functions/hello/configuration",
		headers: [][2]string{{"Content-Type", "application/json"}, {"X-Custom", "a   b  c"}},
		body:    `{"Timeout":10,"Description":"caf\u00e9"}`,
	},
	{
		name:   "percent-encoded utf-8 in path",
		method: http.MethodGet,
		url:    "http://" + testHost + "/2015-03-31/functions/caf%C3%A9/policy",
	},
	{
		name:   "default port",
		method: http.MethodGet,
		url:    "http://example.com:80/2015-03-31/functions/",
	},
}

func TestVerifyAcceptsGoSignerRequests(t *testing.T) {
	t.Parallel()
	v := testVerifier()
	for _, cr := range goRequests {
		t.Run(cr.name, func(t *testing.T) {
			t.Parallel()
			r, body := mustParse(t, signGo(t, cr, defaultSign()))
			require.NoError(t, v.Verify(r, body))
		})
	}
}

func TestVerifyDefaultPortOnWire(t *testing.T) {
	t.Parallel()
	// aws-sdk-go-v2 signs host without :80 but Go's client sends the
	// port it was given.
	raw := signGo(t, clientRequest{method: http.MethodGet, url: "http://example.com:80/2015-03-31/functions/"}, defaultSign())
	raw = bytes.Replace(raw, []byte("Host: example.com\r\n"), []byte("Host: example.com:80\r\n"), 1)
	require.Contains(t, string(raw), "Host: example.com:80\r\n")
	r, body := mustParse(t, raw)
	require.NoError(t, testVerifier().Verify(r, body))
}

func TestVerifyAcceptsLambdaSDKClient(t *testing.T) {
	t.Parallel()
	v := NewVerifier(testCreds, testRegion, "lambda")
	var (
		mu      sync.Mutex
		results []error
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err == nil {
			err = v.Verify(r, body)
		}
		mu.Lock()
		results = append(results, err)
		mu.Unlock()
		if err != nil {
			w.Header().Set("X-Amzn-ErrorType", "InvalidSignatureException")
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprintf(w, `{"message":%q}`, err.Error())
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{}`)
	}))
	defer srv.Close()

	client := lambda.New(lambda.Options{
		Region:           testRegion,
		Credentials:      credentials.NewStaticCredentialsProvider(testCreds.AccessKeyID, testCreds.SecretAccessKey, ""),
		BaseEndpoint:     aws.String(srv.URL),
		RetryMaxAttempts: 1,
	})
	ctx := t.Context()
	arn := "arn:aws:lambda:local:000000000000:function:hello"
	_, err := client.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(arn + ":$LATEST")})
	require.NoError(t, err)
	_, err = client.UntagResource(ctx, &lambda.UntagResourceInput{Resource: aws.String(arn), TagKeys: []string{"b", "a"}})
	require.NoError(t, err)
	_, err = client.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("hello"), Payload: []byte(`{"name":"kumo"}`), LogType: lambdatypes.LogTypeTail})
	require.NoError(t, err)
	_, err = client.ListFunctions(ctx, &lambda.ListFunctionsInput{Marker: aws.String("a/b c"), MaxItems: aws.Int32(5)})
	require.NoError(t, err)

	mu.Lock()
	defer mu.Unlock()
	require.Len(t, results, 4)
	for _, err := range results {
		assert.NoError(t, err)
	}
}

type goldenRequest struct {
	Name    string      `json:"name"`
	Method  string      `json:"method"`
	URL     string      `json:"url"`
	Headers [][2]string `json:"headers"`
	Body    string      `json:"body"` // base64
}

// raw renders a captured botocore request as urllib3 puts it on the wire.
func (g goldenRequest) raw(t testing.TB) []byte {
	t.Helper()
	rest, ok := strings.CutPrefix(g.URL, "http://")
	require.True(t, ok, g.URL)
	host, uri, _ := strings.Cut(rest, "/")
	body, err := base64.StdEncoding.DecodeString(g.Body)
	require.NoError(t, err)
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s /%s HTTP/1.1\r\nHost: %s\r\n", g.Method, uri, host)
	hasLen := false
	for _, h := range g.Headers {
		fmt.Fprintf(&b, "%s: %s\r\n", h[0], h[1])
		hasLen = hasLen || strings.EqualFold(h[0], "Content-Length")
	}
	if !hasLen && len(body) > 0 {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
	}
	b.WriteString("\r\n")
	b.Write(body)
	return b.Bytes()
}

func loadGoldens(t testing.TB) []goldenRequest {
	t.Helper()
	data, err := os.ReadFile("testdata/botocore_requests.json")
	require.NoError(t, err)
	var gs []goldenRequest
	require.NoError(t, json.Unmarshal(data, &gs))
	require.Len(t, gs, 3)
	return gs
}

// The goldens were produced by testdata/botocore_client.py capture: the
// real botocore Lambda client, signing at testTime, never sending.
func TestVerifyAcceptsBotocoreGoldens(t *testing.T) {
	t.Parallel()
	v := testVerifier()
	for _, g := range loadGoldens(t) {
		t.Run(g.Name, func(t *testing.T) {
			t.Parallel()
			raw := g.raw(t)
			r, body := mustParse(t, raw)
			require.NoError(t, v.Verify(r, body))
		})
	}
}

func TestVerifyAcceptsLiveBotocore(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not installed; live botocore requests not checked (goldens still are)")
	}
	if err := exec.CommandContext(t.Context(), "python3", "-c", "import botocore").Run(); err != nil {
		t.Skip("botocore not importable; live botocore requests not checked (goldens still are)")
	}
	v := NewVerifier(testCreds, testRegion, "lambda")
	var (
		mu      sync.Mutex
		results []error
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err == nil {
			err = v.Verify(r, body)
		}
		mu.Lock()
		results = append(results, err)
		mu.Unlock()
		if err != nil {
			w.Header().Set("X-Amzn-ErrorType", "InvalidSignatureException")
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprintf(w, `{"message":%q}`, err.Error())
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{}`)
	}))
	defer srv.Close()

	cmd := exec.CommandContext(t.Context(), "python3", "testdata/botocore_client.py", "send", srv.URL)
	cmd.Env = append(os.Environ(), "KUMO_AK="+testCreds.AccessKeyID, "KUMO_SK="+testCreds.SecretAccessKey)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))

	mu.Lock()
	defer mu.Unlock()
	require.Len(t, results, 3)
	for _, err := range results {
		assert.NoError(t, err)
	}
}

// region finds the bytes of one part of a raw request.
type region struct {
	name       string
	start, end int
}

func requestRegions(t *testing.T, raw []byte, signedHeader string) []region {
	t.Helper()
	lineEnd := bytes.Index(raw, []byte("\r\n"))
	line := raw[:lineEnd]
	sp1 := bytes.IndexByte(line, ' ')
	sp2 := bytes.LastIndexByte(line, ' ')
	regs := []region{{"method", 0, sp1}}
	if q := bytes.IndexByte(line[:sp2], '?'); q >= 0 {
		regs = append(regs, region{"path", sp1 + 1, q}, region{"query", q + 1, sp2})
	} else {
		regs = append(regs, region{"path", sp1 + 1, sp2})
	}
	hdr := []byte("\r\n" + signedHeader + ": ")
	i := bytes.Index(raw, hdr)
	require.GreaterOrEqual(t, i, 0, "header %s not in request", signedHeader)
	vs := i + len(hdr)
	regs = append(regs, region{"header " + signedHeader, vs, vs + bytes.Index(raw[vs:], []byte("\r\n"))})
	sig := bytes.Index(raw, []byte("Signature="))
	require.GreaterOrEqual(t, sig, 0)
	regs = append(regs, region{"signature", sig + len("Signature="), sig + len("Signature=") + 64})
	if b := bytes.Index(raw, []byte("\r\n\r\n")) + 4; b < len(raw) {
		regs = append(regs, region{"body", b, len(raw)})
	}
	return regs
}

func TestVerifyRejectsEverySingleByteMutation(t *testing.T) {
	t.Parallel()
	v := testVerifier()
	type source struct {
		name         string
		raw          []byte
		signedHeader string
	}
	var sources []source
	for _, g := range loadGoldens(t) {
		hdr := "X-Amz-Date"
		if g.Name == "invoke" {
			hdr = "X-Amz-Log-Type"
		}
		sources = append(sources, source{"botocore " + g.Name, g.raw(t), hdr})
	}
	sources = append(sources,
		source{"go invoke", signGo(t, goRequests[2], defaultSign()), "Content-Type"},
		source{"go delete", signGo(t, goRequests[1], defaultSign()), "Host"},
		source{"go get", signGo(t, goRequests[0], defaultSign()), "Amz-Sdk-Invocation-Id"},
	)
	for _, src := range sources {
		t.Run(src.name, func(t *testing.T) {
			t.Parallel()
			r, body := mustParse(t, src.raw)
			require.NoError(t, v.Verify(r, body), "unmutated request must verify")
			for _, reg := range requestRegions(t, src.raw, src.signedHeader) {
				reached := 0
				for i := reg.start; i < reg.end; i++ {
					for _, flip := range []byte{0x01, 0x20} {
						m := bytes.Clone(src.raw)
						m[i] ^= flip
						r, body, err := parseRaw(m)
						if err != nil {
							continue // the HTTP server would reject it already
						}
						reached++
						require.Error(t, v.Verify(r, body), "%s: byte %d ^ %#x accepted:\n%s", reg.name, i-reg.start, flip, m)
					}
				}
				assert.Positive(t, reached, "%s: no mutation got past HTTP parsing", reg.name)
			}
		})
	}
}

func TestVerifyRejects(t *testing.T) {
	t.Parallel()
	invoke := goRequests[2]
	get := goRequests[0]
	with := func(f func(*signParams)) signParams {
		p := defaultSign()
		f(&p)
		return p
	}
	signed := func(cr clientRequest, p signParams) func(t *testing.T) []byte {
		return func(t *testing.T) []byte { return signGo(t, cr, p) }
	}
	edit := func(cr clientRequest, p signParams, old, repl string) func(t *testing.T) []byte {
		return func(t *testing.T) []byte {
			raw := signGo(t, cr, p)
			require.Contains(t, string(raw), old)
			return bytes.Replace(raw, []byte(old), []byte(repl), 1)
		}
	}
	addHeader := func(cr clientRequest, h string) clientRequest {
		cr.headers = append(append([][2]string(nil), cr.headers...), [2]string{h, "x"})
		return cr
	}
	tests := []struct {
		name     string
		raw      func(t *testing.T) []byte
		code     string
		contains string
	}{
		{"wrong secret", signed(invoke, with(func(p *signParams) { p.creds.SecretAccessKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEZ" })), CodeInvalidSignature, "does not match"},
		{"unknown key", signed(invoke, with(func(p *signParams) { p.creds.AccessKeyID = "AKIAKUMOTESTKEY00002" })), CodeUnrecognizedClient, "security token"},
		{"stale date", signed(invoke, with(func(p *signParams) { p.at = testTime.Add(-6 * time.Minute) })), CodeInvalidSignature, "Signature expired: 20261125T083707Z is now earlier than 20261125T083807Z (20261125T084307Z - 5 min.)"},
		{"future date", signed(invoke, with(func(p *signParams) { p.at = testTime.Add(6 * time.Minute) })), CodeInvalidSignature, "Signature not yet current"},
		{"scope region mismatch", signed(invoke, with(func(p *signParams) { p.region = "us-east-1" })), CodeInvalidSignature, "valid region"},
		{"scope service mismatch", signed(invoke, with(func(p *signParams) { p.service = "s3" })), CodeInvalidSignature, "'lambda'"},
		{"scope date mismatch", edit(get, defaultSign(), "/20261125/", "/20261124/"), CodeInvalidSignature, "Date in Credential scope"},
		{"unsigned host", edit(get, defaultSign(), "SignedHeaders=amz-sdk-invocation-id;amz-sdk-request;host;x-amz-date", "SignedHeaders=amz-sdk-invocation-id;amz-sdk-request;x-amz-date"), CodeInvalidSignature, "'Host'"},
		{"unsigned date", edit(get, defaultSign(), ";x-amz-date,", ","), CodeInvalidSignature, "'X-Amz-Date'"},
		{"missing authorization", edit(get, defaultSign(), "Authorization:", "X-Not-Authorization:"), CodeMissingToken, "Missing Authentication Token"},
		{"empty authorization", edit(get, defaultSign(), "Authorization: AWS4", "Authorization: \r\nX-Was: AWS4"), CodeMissingToken, "Missing Authentication Token"},
		{"two authorization headers", edit(get, defaultSign(), "Authorization:", "Authorization: AWS4-HMAC-SHA256 x\r\nAuthorization:"), CodeIncompleteSignature, "one Authorization"},
		{"missing x-amz-date", edit(get, defaultSign(), "X-Amz-Date:", "X-Not-Date:"), CodeIncompleteSignature, "X-Amz-Date"},
		{"malformed x-amz-date", edit(get, defaultSign(), "X-Amz-Date: 20261125T084307Z", "X-Amz-Date: 2026-11-25T08:43:07Z"), CodeIncompleteSignature, "ISO-8601"},
		{"session token", edit(get, defaultSign(), "X-Amz-Date:", "X-Amz-Security-Token: abc\r\nX-Amz-Date:"), CodeUnrecognizedClient, "security token"},
		{"signed header absent", edit(get, defaultSign(), "Amz-Sdk-Request:", "Amz-Sdk-Other:"), CodeInvalidSignature, "does not match"},
		{"signed user-agent", edit(get, defaultSign(), "SignedHeaders=amz-sdk-invocation-id;amz-sdk-request;host;x-amz-date", "SignedHeaders=amz-sdk-invocation-id;amz-sdk-request;host;user-agent;x-amz-date"), CodeInvalidSignature, "does not match"},
		{"unsigned header added to signed list", edit(addHeader(get, "X-Extra"), defaultSign(), "x-amz-date;x-extra", "x-amz-date"), CodeInvalidSignature, "does not match"},
		{"unparseable query", edit(goRequests[1], defaultSign(), "tagKeys=a&", "tagKeys=a;x&"), CodeInvalidSignature, "does not match"},
		{"content sha mismatch", signed(addSHA(invoke, strings.Repeat("0", 64)), defaultSign()), CodeInvalidSignature, "x-amz-content-sha256"},
		{"unsigned payload claimed after signing body", edit(invoke, defaultSign(), "X-Amz-Date:", "X-Amz-Content-Sha256: UNSIGNED-PAYLOAD\r\nX-Amz-Date:"), CodeInvalidSignature, "does not match"},
		{"body swapped", edit(invoke, defaultSign(), `{"name":"kumo"}`, `{"name":"evil"}`), CodeInvalidSignature, "does not match"},
		// Go's signer leaves a zero Content-Length unsigned; the header
		// being present must not confuse the verifier.
		{"zero content-length present but unsigned", signed(clientRequest{method: http.MethodPost, url: "http://" + testHost + "/x", headers: [][2]string{{"Content-Length", "0"}}}, defaultSign()), "", ""},
	}
	v := testVerifier()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, body := mustParse(t, tc.raw(t))
			err := v.Verify(r, body)
			if tc.code == "" {
				require.NoError(t, err)
				return
			}
			assertDenied(t, err, tc.code)
			assert.Contains(t, err.Error(), tc.contains)
		})
	}
}

func addSHA(cr clientRequest, sum string) clientRequest {
	cr.headers = append(append([][2]string(nil), cr.headers...), [2]string{"X-Amz-Content-Sha256", sum})
	return cr
}

func TestVerifyContentSHA256Header(t *testing.T) {
	t.Parallel()
	invoke := goRequests[2]
	sum := sha256.Sum256([]byte(invoke.body))
	good := hex.EncodeToString(sum[:])
	unsigned := defaultSign()
	unsigned.payloadHash = "UNSIGNED-PAYLOAD"
	v := testVerifier()

	r, body := mustParse(t, signGo(t, addSHA(invoke, good), defaultSign()))
	require.NoError(t, v.Verify(r, body), "matching hash")

	r, body = mustParse(t, signGo(t, addSHA(invoke, "UNSIGNED-PAYLOAD"), unsigned))
	require.NoError(t, v.Verify(r, body), "unsigned payload signed as such")

	// The body is then not covered, by the client's choice; the signed
	// headers still are.
	r, body = mustParse(t, bytes.Replace(signGo(t, addSHA(invoke, "UNSIGNED-PAYLOAD"), unsigned), []byte("Tail"), []byte("None"), 1))
	assertDenied(t, v.Verify(r, body), CodeInvalidSignature)
}

func TestVerifyMaxSkewOption(t *testing.T) {
	t.Parallel()
	raw := signGo(t, goRequests[0], with6MinutesAgo())
	r, body := mustParse(t, raw)
	assertDenied(t, testVerifier().Verify(r, body), CodeInvalidSignature)
	require.NoError(t, testVerifier(WithMaxSkew(15*time.Minute)).Verify(r, body))
}

func with6MinutesAgo() signParams {
	p := defaultSign()
	p.at = testTime.Add(-6 * time.Minute)
	return p
}

func TestVerifyRejectsMalformedAuthorization(t *testing.T) {
	t.Parallel()
	const cred = "Credential=AKIAKUMOTESTKEY00001/20261125/local/lambda/aws4_request"
	const sh = "SignedHeaders=host;x-amz-date"
	sig := "Signature=" + strings.Repeat("a", 64)
	tests := []struct {
		name, header string
	}{
		{"algorithm only", "AWS4-HMAC-SHA256"},
		{"algorithm and space", "AWS4-HMAC-SHA256 "},
		{"wrong algorithm", "AWS4-HMAC-SHA512 " + cred + ", " + sh + ", " + sig},
		{"lowercase algorithm", "aws4-hmac-sha256 " + cred + ", " + sh + ", " + sig},
		{"bearer", "Bearer abc"},
		{"sigv2", "AWS AKIAKUMOTESTKEY00001:c2lnbmF0dXJl"},
		{"missing signature", "AWS4-HMAC-SHA256 " + cred + ", " + sh},
		{"missing credential", "AWS4-HMAC-SHA256 " + sh + ", " + sig},
		{"missing signed headers", "AWS4-HMAC-SHA256 " + cred + ", " + sig},
		{"duplicate credential", "AWS4-HMAC-SHA256 " + cred + ", " + cred + ", " + sh + ", " + sig},
		{"unknown parameter", "AWS4-HMAC-SHA256 " + cred + ", " + sh + ", " + sig + ", Extra=1"},
		{"no equals", "AWS4-HMAC-SHA256 " + cred + ", " + sh + ", Signature"},
		{"empty parts", "AWS4-HMAC-SHA256 ,,,"},
		{"credential four parts", "AWS4-HMAC-SHA256 Credential=AKIAKUMOTESTKEY00001/20261125/local/lambda, " + sh + ", " + sig},
		{"credential six parts", "AWS4-HMAC-SHA256 " + cred + "/x, " + sh + ", " + sig},
		{"credential bad terminator", "AWS4-HMAC-SHA256 Credential=AKIAKUMOTESTKEY00001/20261125/local/lambda/aws5_request, " + sh + ", " + sig},
		{"credential empty key", "AWS4-HMAC-SHA256 Credential=/20261125/local/lambda/aws4_request, " + sh + ", " + sig},
		{"credential bad date", "AWS4-HMAC-SHA256 Credential=AKIAKUMOTESTKEY00001/2026112X/local/lambda/aws4_request, " + sh + ", " + sig},
		{"credential short date", "AWS4-HMAC-SHA256 Credential=AKIAKUMOTESTKEY00001/2026115/local/lambda/aws4_request, " + sh + ", " + sig},
		{"credential empty region", "AWS4-HMAC-SHA256 Credential=AKIAKUMOTESTKEY00001/20261125//lambda/aws4_request, " + sh + ", " + sig},
		{"signed headers unsorted", "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=x-amz-date;host, " + sig},
		{"signed headers duplicate", "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=host;host;x-amz-date, " + sig},
		{"signed headers empty name", "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=host;;x-amz-date, " + sig},
		{"signed headers empty", "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=, " + sig},
		{"signed headers uppercase", "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=Host;x-amz-date, " + sig},
		{"signed headers with space", "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=host;x amz, " + sig},
		{"too many signed headers", "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=" + manyHeaders(65) + ", " + sig},
		{"signature short", "AWS4-HMAC-SHA256 " + cred + ", " + sh + ", Signature=" + strings.Repeat("a", 63)},
		{"signature long", "AWS4-HMAC-SHA256 " + cred + ", " + sh + ", Signature=" + strings.Repeat("a", 65)},
		{"signature uppercase", "AWS4-HMAC-SHA256 " + cred + ", " + sh + ", Signature=" + strings.Repeat("A", 64)},
		{"signature not hex", "AWS4-HMAC-SHA256 " + cred + ", " + sh + ", Signature=" + strings.Repeat("g", 64)},
		{"signature unicode", "AWS4-HMAC-SHA256 " + cred + ", " + sh + ", Signature=" + strings.Repeat("\u00e9", 32)},
		{"too long", "AWS4-HMAC-SHA256 " + cred + ", " + sh + ", " + sig + strings.Repeat(" ", 5000)},
	}
	v := testVerifier()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodGet, "http://"+testHost+"/2015-03-31/functions/", nil)
			r.Header.Set("X-Amz-Date", "20261125T084307Z")
			r.Header.Set("Authorization", tc.header)
			assertDenied(t, v.Verify(r, nil), CodeIncompleteSignature)
		})
	}
}

func manyHeaders(n int) string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("h%03d", i)
	}
	return strings.Join(names, ";")
}

func assertDenied(t *testing.T, err error, code string) {
	t.Helper()
	require.Error(t, err)
	require.ErrorIs(t, err, kumo.ErrAccessDenied)
	var ke *kumo.Error
	require.ErrorAs(t, err, &ke)
	assert.Equal(t, code, ke.Code, ke.Message)
	assert.NotEmpty(t, ke.Message)
}

var knownCodes = map[string]bool{
	CodeMissingToken: true, CodeUnrecognizedClient: true, CodeInvalidSignature: true, CodeIncompleteSignature: true,
}

func FuzzVerify(f *testing.F) {
	valid := map[string]bool{}
	addSeed := func(raw []byte) {
		f.Add(raw)
		r, _, err := parseRaw(raw)
		if err == nil {
			if _, sig, ok := strings.Cut(r.Header.Get("Authorization"), "Signature="); ok {
				valid[sig] = true
			}
		}
	}
	for _, g := range loadGoldens(f) {
		addSeed(g.raw(f))
	}
	for _, cr := range goRequests {
		addSeed(signGo(f, cr, defaultSign()))
	}
	f.Add([]byte("GET / HTTP/1.1\r\nHost: h\r\nAuthorization: AWS4-HMAC-SHA256 Credential=a/b/c/d/e, SignedHeaders=, Signature=\r\n\r\n"))
	f.Add([]byte("POST /%zz HTTP/1.1\r\nHost: h\r\nX-Amz-Date: 20261125T084307Z\r\nAuthorization: AWS4-HMAC-SHA256 Credential=AKIAKUMOTESTKEY00001/20261125/local/lambda/aws4_request,SignedHeaders=content-length;host;x-amz-date,Signature=00\r\nContent-Length: 1\r\n\r\nx"))

	v := testVerifier()
	f.Fuzz(func(t *testing.T, raw []byte) {
		r, body, err := parseRaw(raw)
		if err != nil {
			return
		}
		err = v.Verify(r, body)
		if err == nil {
			// Nobody without the secret can make a new valid signature, so
			// an accepted request must carry one of the seeds' signatures.
			_, sig, _ := strings.Cut(r.Header.Get("Authorization"), "Signature=")
			require.True(t, valid[sig], "accepted a signature no seed carried: %q", raw)
			return
		}
		var ke *kumo.Error
		require.ErrorAs(t, err, &ke)
		require.ErrorIs(t, err, kumo.ErrAccessDenied)
		require.True(t, knownCodes[ke.Code], "unknown code %q", ke.Code)
	})
}

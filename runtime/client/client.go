package client

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
)

// DefaultEndpoint is where `kumo server` listens by default.
const DefaultEndpoint = "http://127.0.0.1:9001"

// Options say how to reach a host. Empty fields come from the environment
// the aws CLI uses (AWS_ENDPOINT_URL_LAMBDA, AWS_SHARED_CREDENTIALS_FILE,
// AWS_PROFILE, AWS_REGION), then from DataDir/credentials.
type Options struct {
	Endpoint    string
	Region      string
	DataDir     string
	Credentials aws.CredentialsProvider
	HTTPClient  *http.Client
}

// Client talks to one kumo host.
type Client struct {
	endpoint string
	region   string
	creds    aws.CredentialsProvider
	http     *http.Client
	lambda   *lambda.Client
}

// New resolves opts and returns a Client.
func New(ctx context.Context, opts Options) (*Client, error) {
	if opts.Endpoint == "" {
		opts.Endpoint = firstNonEmpty(os.Getenv("KUMO_ENDPOINT"), os.Getenv("AWS_ENDPOINT_URL_LAMBDA"), DefaultEndpoint)
	}
	if opts.Region == "" {
		opts.Region = firstNonEmpty(os.Getenv("AWS_REGION"), os.Getenv("AWS_DEFAULT_REGION"), "local")
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{}
	}
	if opts.Credentials == nil {
		loadOpts := []func(*config.LoadOptions) error{config.WithRegion(opts.Region)}
		if os.Getenv("AWS_SHARED_CREDENTIALS_FILE") == "" && os.Getenv("AWS_ACCESS_KEY_ID") == "" {
			dataDir := firstNonEmpty(opts.DataDir, os.Getenv("KUMO_DATA_DIR"), "/var/lib/kumo")
			loadOpts = append(loadOpts,
				config.WithSharedCredentialsFiles([]string{filepath.Join(dataDir, "credentials")}),
				config.WithSharedConfigProfile("kumo"))
		}
		cfg, err := config.LoadDefaultConfig(ctx, loadOpts...)
		if err != nil {
			return nil, fmt.Errorf("load credentials: %w", err)
		}
		opts.Credentials = cfg.Credentials
	}
	c := &Client{
		endpoint: strings.TrimRight(opts.Endpoint, "/"),
		region:   opts.Region,
		creds:    opts.Credentials,
		http:     opts.HTTPClient,
	}
	c.lambda = lambda.New(lambda.Options{
		Region:       opts.Region,
		BaseEndpoint: aws.String(c.endpoint),
		Credentials:  opts.Credentials,
		HTTPClient:   opts.HTTPClient,
		Retryer:      aws.NopRetryer{},
	})
	return c, nil
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// Lambda is the host's Lambda API.
func (c *Client) Lambda() *lambda.Client { return c.lambda }

// LogRecord is one chunk of a function's log.
type LogRecord struct {
	Seq       uint64    `json:"seq"`
	Time      time.Time `json:"time"`
	RequestID string    `json:"requestId"`
	Data      string    `json:"data"`
}

// Logs calls fn for each log record of a function after sequence after;
// with follow it keeps waiting for new records until ctx ends.
func (c *Client) Logs(ctx context.Context, function string, after uint64, follow bool, fn func(LogRecord) error) error {
	return readNDJSON(ctx, c, "/kumo/v1/functions/"+url.PathEscape(function)+"/logs", after, follow, "logs of "+function, 16<<20, fn)
}

// readNDJSON GETs a signed kumo extension endpoint that answers
// newline-delimited JSON records and calls fn for each; what names it in
// errors and maxLine bounds one record.
func readNDJSON[T any](ctx context.Context, c *Client, path string, after uint64, follow bool, what string, maxLine int, fn func(T) error) error {
	q := url.Values{}
	q.Set("after", strconv.FormatUint(after, 10))
	if follow {
		q.Set("follow", "true")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.endpoint+path+"?"+q.Encode(), nil)
	if err != nil {
		return fmt.Errorf("build request for %s: %w", what, err)
	}
	if err := c.sign(ctx, req, nil); err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("get %s: %w", what, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return apiError(resp)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64*1024), maxLine)
	for sc.Scan() {
		var rec T
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			return fmt.Errorf("decode record of %s: %w", what, err)
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return fmt.Errorf("read %s: %w", what, err)
	}
	return nil
}

// sign adds a SigV4 signature, as the host verifies every request.
func (c *Client) sign(ctx context.Context, req *http.Request, body []byte) error {
	creds, err := c.creds.Retrieve(ctx)
	if err != nil {
		return fmt.Errorf("retrieve credentials: %w", err)
	}
	sum := sha256.Sum256(body)
	return v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "lambda", c.region, time.Now())
}

// APIError is an error response of the host.
type APIError struct {
	Status  int
	Code    string
	Message string
}

func (e *APIError) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }

func apiError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var body struct {
		Message  string `json:"Message"`
		MessageL string `json:"message"`
	}
	_ = json.Unmarshal(b, &body)
	msg := firstNonEmpty(body.Message, body.MessageL, strings.TrimSpace(string(b)))
	return &APIError{Status: resp.StatusCode, Code: resp.Header.Get("x-amzn-ErrorType"), Message: msg}
}

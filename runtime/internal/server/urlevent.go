package server

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kumo-dev/kumo/runtime/kumo"
)

// urlEvent is payload format 2.0 as Lambda sends it to a function behind
// a function URL; aws-lambda-go's events.LambdaFunctionURLRequest decodes
// it.
type urlEvent struct {
	Version               string            `json:"version"`
	RouteKey              string            `json:"routeKey"`
	RawPath               string            `json:"rawPath"`
	RawQueryString        string            `json:"rawQueryString"`
	Cookies               []string          `json:"cookies,omitempty"`
	Headers               map[string]string `json:"headers"`
	QueryStringParameters map[string]string `json:"queryStringParameters,omitempty"`
	RequestContext        urlEventContext   `json:"requestContext"`
	Body                  string            `json:"body,omitempty"`
	IsBase64Encoded       bool              `json:"isBase64Encoded"`
}

type urlEventContext struct {
	AccountID    string         `json:"accountId"`
	APIID        string         `json:"apiId"`
	Authorizer   *urlAuthorizer `json:"authorizer,omitempty"`
	DomainName   string         `json:"domainName"`
	DomainPrefix string         `json:"domainPrefix"`
	HTTP         urlEventHTTP   `json:"http"`
	RequestID    string         `json:"requestId"`
	RouteKey     string         `json:"routeKey"`
	Stage        string         `json:"stage"`
	Time         string         `json:"time"`
	TimeEpoch    int64          `json:"timeEpoch"`
}

type urlEventHTTP struct {
	Method    string `json:"method"`
	Path      string `json:"path"`
	Protocol  string `json:"protocol"`
	SourceIP  string `json:"sourceIp"`
	UserAgent string `json:"userAgent"`
}

type urlAuthorizer struct {
	IAM *urlIAM `json:"iam,omitempty"`
}

type urlIAM struct {
	AccessKey string `json:"accessKey"`
	AccountID string `json:"accountId"`
	CallerID  string `json:"callerId"`
	UserARN   string `json:"userArn"`
	UserID    string `json:"userId"`
}

// urlCall is what the host knows about a function-URL request besides
// the request itself.
type urlCall struct {
	ID        string
	Account   string
	RequestID string
	RawPath   string // the path after the URL's own prefix, escaped
	Now       time.Time
	IAM       *urlIAM // set for AWS_IAM URLs
}

// buildURLEvent turns an HTTP request into the 2.0 event.
func buildURLEvent(r *http.Request, body []byte, c urlCall) ([]byte, error) {
	ev := urlEvent{
		Version:        "2.0",
		RouteKey:       "$default",
		RawPath:        c.RawPath,
		RawQueryString: r.URL.RawQuery,
		Headers:        map[string]string{},
		RequestContext: urlEventContext{
			AccountID:    c.Account,
			APIID:        c.ID,
			DomainName:   r.Host,
			DomainPrefix: c.ID,
			HTTP: urlEventHTTP{
				Method:    r.Method,
				Path:      c.RawPath,
				Protocol:  r.Proto,
				SourceIP:  sourceIP(r.RemoteAddr),
				UserAgent: r.UserAgent(),
			},
			RequestID: c.RequestID,
			RouteKey:  "$default",
			Stage:     "$default",
			Time:      c.Now.UTC().Format("02/Jan/2006:15:04:05 -0700"),
			TimeEpoch: c.Now.UnixMilli(),
		},
	}
	if c.IAM != nil {
		ev.RequestContext.Authorizer = &urlAuthorizer{IAM: c.IAM}
	}
	// Header names are lowercased and repeated values comma-joined, as
	// Lambda does; cookies move to their own list.
	for k, vs := range r.Header {
		name := strings.ToLower(k)
		if name == "cookie" {
			for _, v := range vs {
				for part := range strings.SplitSeq(v, ";") {
					if part = strings.TrimSpace(part); part != "" {
						ev.Cookies = append(ev.Cookies, part)
					}
				}
			}
			continue
		}
		ev.Headers[name] = strings.Join(vs, ",")
	}
	ev.Headers["host"] = r.Host
	ev.Headers["x-forwarded-for"] = ev.RequestContext.HTTP.SourceIP
	ev.Headers["x-forwarded-proto"] = "http"
	if r.TLS != nil {
		ev.Headers["x-forwarded-proto"] = "https"
	}
	// ParseQuery keeps what it could parse when some pair is malformed;
	// rawQueryString still carries everything.
	q, _ := url.ParseQuery(r.URL.RawQuery)
	if len(q) > 0 {
		ev.QueryStringParameters = make(map[string]string, len(q))
		for k, vs := range q {
			ev.QueryStringParameters[k] = strings.Join(vs, ",")
		}
	}
	if len(body) > 0 {
		if isTextual(r.Header.Get("Content-Type")) && utf8.Valid(body) {
			ev.Body = string(body)
		} else {
			ev.Body = base64.StdEncoding.EncodeToString(body)
			ev.IsBase64Encoded = true
		}
	}
	return json.Marshal(ev)
}

// isTextual reports whether a body of this content type is passed as
// text; anything else (and no type at all) is passed base64-encoded.
func isTextual(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	switch {
	case strings.HasPrefix(mt, "text/"), strings.HasSuffix(mt, "+json"), strings.HasSuffix(mt, "+xml"):
		return true
	}
	switch mt {
	case "application/json", "application/javascript", "application/xml", "application/graphql":
		return true
	}
	return false
}

// urlResponse is the HTTP response a function's result turns into.
type urlResponse struct {
	Status int
	Header http.Header
	Body   []byte
}

// streamDelimiter separates the JSON prelude from the body in aws-lambda-go's
// application/vnd.awslambda.http-integration-response framing. Valid JSON
// never contains a NUL byte, so it cannot be mistaken for a plain result.
var streamDelimiter = []byte{0, 0, 0, 0, 0, 0, 0, 0}

// errBadFunctionResponse makes the URL answer 502, as Lambda does for a
// result it cannot turn into an HTTP response.
var errBadFunctionResponse = errors.New("function returned an invalid function URL response")

// translateURLResponse applies Lambda's rules: a JSON object with
// statusCode describes the response; the streaming framing gives a
// prelude and a raw body; any other result is a 200 application/json
// response with the result as its body.
func translateURLResponse(payload []byte) (urlResponse, error) {
	if prelude, body, ok := bytes.Cut(payload, streamDelimiter); ok && len(prelude) > 0 && prelude[0] == '{' {
		var p struct {
			StatusCode *int              `json:"statusCode"`
			Headers    map[string]string `json:"headers"`
			Cookies    []string          `json:"cookies"`
		}
		if err := json.Unmarshal(prelude, &p); err != nil {
			return urlResponse{}, fmt.Errorf("%w: streaming prelude: %v", errBadFunctionResponse, err)
		}
		status := http.StatusOK
		if p.StatusCode != nil {
			status = *p.StatusCode
		}
		return structured(status, p.Headers, p.Cookies, body, "application/octet-stream")
	}
	trimmed := bytes.TrimSpace(payload)
	if len(trimmed) > 0 && trimmed[0] == '{' && json.Valid(trimmed) {
		var probe map[string]json.RawMessage
		if err := json.Unmarshal(trimmed, &probe); err == nil {
			if _, ok := probe["statusCode"]; ok {
				var res struct {
					StatusCode      json.Number       `json:"statusCode"`
					Headers         map[string]string `json:"headers"`
					Cookies         []string          `json:"cookies"`
					Body            *string           `json:"body"`
					IsBase64Encoded bool              `json:"isBase64Encoded"`
				}
				if err := json.Unmarshal(trimmed, &res); err != nil {
					return urlResponse{}, fmt.Errorf("%w: %v", errBadFunctionResponse, err)
				}
				status, err := strconv.Atoi(res.StatusCode.String())
				if err != nil {
					return urlResponse{}, fmt.Errorf("%w: statusCode %q", errBadFunctionResponse, res.StatusCode)
				}
				var body []byte
				if res.Body != nil {
					body = []byte(*res.Body)
					if res.IsBase64Encoded {
						if body, err = base64.StdEncoding.DecodeString(*res.Body); err != nil {
							return urlResponse{}, fmt.Errorf("%w: body is not base64: %v", errBadFunctionResponse, err)
						}
					}
				}
				return structured(status, res.Headers, res.Cookies, body, "application/json")
			}
		}
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	return urlResponse{Status: http.StatusOK, Header: h, Body: payload}, nil
}

func structured(status int, headers map[string]string, cookies []string, body []byte, defaultType string) (urlResponse, error) {
	if status < 100 || status > 599 {
		return urlResponse{}, fmt.Errorf("%w: statusCode %d", errBadFunctionResponse, status)
	}
	h := http.Header{}
	// Sorted, so that a header given twice in different case resolves the
	// same way every time.
	names := make([]string, 0, len(headers))
	for k := range headers {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if !urlHeaderName(k) || !urlHeaderValue(headers[k]) || urlHopByHop(k) {
			continue
		}
		h.Set(k, headers[k])
	}
	for _, c := range cookies {
		if urlHeaderValue(c) {
			h.Add("Set-Cookie", c)
		}
	}
	if h.Get("Content-Type") == "" {
		h.Set("Content-Type", defaultType)
	}
	return urlResponse{Status: status, Header: h, Body: body}, nil
}

// urlHopByHop headers describe the connection, which the host owns.
func urlHopByHop(name string) bool {
	switch strings.ToLower(name) {
	case "content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "trailer", "te":
		return true
	}
	return false
}

func urlHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

func urlHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// CORS. Lambda answers preflight requests itself from the URL's Cors
// configuration and sets the CORS headers on responses to allowed
// origins, replacing any the function set.

// corsOrigin returns the Access-Control-Allow-Origin value for origin, or
// false when the origin is not allowed.
func corsOrigin(c *kumo.Cors, origin string) (string, bool) {
	if c == nil || origin == "" {
		return "", false
	}
	for _, o := range c.AllowOrigins {
		if o == "*" {
			// Browsers refuse "*" on credentialed requests.
			if c.AllowCredentials {
				return origin, true
			}
			return "*", true
		}
		if strings.EqualFold(o, origin) {
			return origin, true
		}
	}
	return "", false
}

// isPreflight reports whether r is a CORS preflight request.
func isPreflight(r *http.Request) bool {
	return r.Method == http.MethodOptions && r.Header.Get("Origin") != "" && r.Header.Get("Access-Control-Request-Method") != ""
}

// corsPreflight returns the headers of the answer to a preflight request;
// a disallowed origin or method gets none, so the browser blocks it.
func corsPreflight(c *kumo.Cors, r *http.Request) http.Header {
	h := http.Header{}
	h.Set("Vary", "Origin")
	origin, ok := corsOrigin(c, r.Header.Get("Origin"))
	if !ok {
		return h
	}
	method := r.Header.Get("Access-Control-Request-Method")
	if !urlContainsFold(c.AllowMethods, "*") && !urlContainsFold(c.AllowMethods, method) {
		return h
	}
	h.Set("Access-Control-Allow-Origin", origin)
	methods := strings.Join(c.AllowMethods, ",")
	if urlContainsFold(c.AllowMethods, "*") {
		methods = strings.ToUpper(method)
	}
	h.Set("Access-Control-Allow-Methods", methods)
	if len(c.AllowHeaders) > 0 {
		allow := strings.Join(c.AllowHeaders, ",")
		if urlContainsFold(c.AllowHeaders, "*") && c.AllowCredentials {
			// "*" is literal on credentialed requests: name them.
			allow = r.Header.Get("Access-Control-Request-Headers")
		}
		if allow != "" && urlHeaderValue(allow) {
			h.Set("Access-Control-Allow-Headers", allow)
		}
	}
	if c.MaxAge > 0 {
		h.Set("Access-Control-Max-Age", strconv.Itoa(c.MaxAge))
	}
	if c.AllowCredentials {
		h.Set("Access-Control-Allow-Credentials", "true")
	}
	return h
}

// applyCors replaces the function's CORS headers with the URL's.
func applyCors(c *kumo.Cors, origin string, h http.Header) {
	if c == nil {
		return
	}
	for k := range h {
		if strings.HasPrefix(strings.ToLower(k), "access-control-") {
			delete(h, k)
		}
	}
	h.Add("Vary", "Origin")
	allow, ok := corsOrigin(c, origin)
	if !ok {
		return
	}
	h.Set("Access-Control-Allow-Origin", allow)
	if len(c.ExposeHeaders) > 0 {
		h.Set("Access-Control-Expose-Headers", strings.Join(c.ExposeHeaders, ","))
	}
	if c.AllowCredentials {
		h.Set("Access-Control-Allow-Credentials", "true")
	}
}

func urlContainsFold(list []string, v string) bool {
	for _, x := range list {
		if strings.EqualFold(x, v) {
			return true
		}
	}
	return false
}

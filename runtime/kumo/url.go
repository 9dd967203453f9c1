package kumo

import "time"

// Function URL auth types and invoke modes, as Lambda names them.
const (
	URLAuthNone    = "NONE"
	URLAuthIAM     = "AWS_IAM"
	InvokeBuffered = "BUFFERED"
	InvokeStream   = "RESPONSE_STREAM"
)

// URLIDLen is the length of a function URL id: 32 lowercase letters and
// digits, like Lambda's.
const URLIDLen = 32

// FunctionURLConfig is the desired state of one function URL: the
// unqualified function or one alias has at most one.
type FunctionURLConfig struct {
	// ID names the URL in its host name or path; random, never changes.
	ID               string    `json:"id"`
	Function         string    `json:"function"`
	Qualifier        string    `json:"qualifier,omitempty"` // alias name or ""
	AuthType         string    `json:"authType"`
	Cors             *Cors     `json:"cors,omitempty"`
	InvokeMode       string    `json:"invokeMode"`
	CreationTime     time.Time `json:"creationTime"`
	LastModifiedTime time.Time `json:"lastModifiedTime"`
}

// Cors is a function URL's CORS configuration; the host answers
// preflight requests from it and adds its headers to responses.
type Cors struct {
	AllowCredentials bool     `json:"allowCredentials,omitempty"`
	AllowHeaders     []string `json:"allowHeaders,omitempty"`
	AllowMethods     []string `json:"allowMethods,omitempty"`
	AllowOrigins     []string `json:"allowOrigins,omitempty"`
	ExposeHeaders    []string `json:"exposeHeaders,omitempty"`
	MaxAge           int      `json:"maxAge,omitempty"`
}

// Clone returns a deep copy.
func (c *FunctionURLConfig) Clone() *FunctionURLConfig {
	if c == nil {
		return nil
	}
	out := *c
	if c.Cors != nil {
		cors := *c.Cors
		cors.AllowHeaders = cloneSlice(c.Cors.AllowHeaders)
		cors.AllowMethods = cloneSlice(c.Cors.AllowMethods)
		cors.AllowOrigins = cloneSlice(c.Cors.AllowOrigins)
		cors.ExposeHeaders = cloneSlice(c.Cors.ExposeHeaders)
		out.Cors = &cors
	}
	return &out
}

func cloneSlice(s []string) []string {
	if s == nil {
		return nil
	}
	return append([]string{}, s...)
}

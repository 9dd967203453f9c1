// Command urlfn is the function-URL test function of the e2e suite: it
// answers with what it saw of the 2.0 event. The path /stream answers with
// aws-lambda-go's streaming response framing instead.
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
)

type seen struct {
	Method          string            `json:"method"`
	RawPath         string            `json:"rawPath"`
	RawQueryString  string            `json:"rawQueryString"`
	Query           map[string]string `json:"query"`
	Headers         map[string]string `json:"headers"`
	Cookies         []string          `json:"cookies"`
	Body            []byte            `json:"body"` // decoded; JSON carries it as base64
	IsBase64Encoded bool              `json:"isBase64Encoded"`
	APIID           string            `json:"apiId"`
	DomainPrefix    string            `json:"domainPrefix"`
	AccountID       string            `json:"accountId"`
	SourceIP        string            `json:"sourceIp"`
	IAMAccessKey    string            `json:"iamAccessKey,omitempty"`
}

func handler(_ context.Context, req events.LambdaFunctionURLRequest) (any, error) {
	if req.RawPath == "/stream" {
		return &events.LambdaFunctionURLStreamingResponse{
			StatusCode: 202,
			Headers:    map[string]string{"X-Streamed": "yes", "Content-Type": "text/plain"},
			Body:       strings.NewReader("streamed body"),
		}, nil
	}
	body := []byte(req.Body)
	if req.IsBase64Encoded {
		raw, err := base64.StdEncoding.DecodeString(req.Body)
		if err != nil {
			return nil, err
		}
		body = raw
	}
	out := seen{
		Method: req.RequestContext.HTTP.Method, RawPath: req.RawPath, RawQueryString: req.RawQueryString,
		Query: req.QueryStringParameters, Headers: req.Headers, Cookies: req.Cookies, Body: body,
		IsBase64Encoded: req.IsBase64Encoded, APIID: req.RequestContext.APIID, DomainPrefix: req.RequestContext.DomainPrefix,
		AccountID: req.RequestContext.AccountID, SourceIP: req.RequestContext.HTTP.SourceIP,
	}
	if a := req.RequestContext.Authorizer; a != nil && a.IAM != nil {
		out.IAMAccessKey = a.IAM.AccessKey
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, err
	}
	status := 200
	if s, err := strconv.Atoi(req.QueryStringParameters["status"]); err == nil {
		status = s
	}
	return events.LambdaFunctionURLResponse{
		StatusCode:      status,
		Headers:         map[string]string{"Content-Type": "application/json", "X-Echo-Method": req.RequestContext.HTTP.Method},
		Cookies:         []string{"served=1; Path=/", "other=2"},
		Body:            base64.StdEncoding.EncodeToString(b),
		IsBase64Encoded: true,
	}, nil
}

func main() { lambda.Start(handler) }

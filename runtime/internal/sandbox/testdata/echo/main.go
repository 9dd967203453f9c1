// Command echo is a Lambda function built with aws-lambda-go for tests.
// The payload selects the behaviour:
//
//	{"error":"msg"}   returns an error of type *echoError
//	{"panic":"msg"}   panics (the runtime reports it, then the process exits)
//	{"sleep_ms":N}    sleeps N ms, honouring the context deadline
//	{"size":N}        returns a string of N bytes
//	{"env":"NAME"}    returns the value of an environment variable
//	anything else     is echoed back together with invocation metadata
package main

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

type echoError struct{ msg string }

func (e *echoError) Error() string { return e.msg }

type request struct {
	Error   string `json:"error"`
	Panic   string `json:"panic"`
	SleepMS int    `json:"sleep_ms"`
	Size    int    `json:"size"`
	Env     string `json:"env"`
}

type response struct {
	Payload     json.RawMessage `json:"payload"`
	RequestID   string          `json:"request_id"`
	FunctionARN string          `json:"function_arn"`
	HasDeadline bool            `json:"has_deadline"`
	TraceID     string          `json:"trace_id"`
	ClientApp   string          `json:"client_app,omitempty"`
	CognitoID   string          `json:"cognito_id,omitempty"`
}

func handle(ctx context.Context, raw json.RawMessage) (any, error) {
	var req request
	_ = json.Unmarshal(raw, &req)
	switch {
	case req.Error != "":
		return nil, &echoError{req.Error}
	case req.Panic != "":
		panic(req.Panic)
	case req.SleepMS > 0:
		select {
		case <-time.After(time.Duration(req.SleepMS) * time.Millisecond):
			return "slept", nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	case req.Size > 0:
		return strings.Repeat("x", req.Size), nil
	case req.Env != "":
		return os.Getenv(req.Env), nil
	}
	lc, _ := lambdacontext.FromContext(ctx)
	_, hasDeadline := ctx.Deadline()
	trace, _ := ctx.Value("x-amzn-trace-id").(string)
	return response{
		Payload:     raw,
		RequestID:   lc.AwsRequestID,
		FunctionARN: lc.InvokedFunctionArn,
		HasDeadline: hasDeadline,
		TraceID:     trace,
		ClientApp:   lc.ClientContext.Client.AppTitle,
		CognitoID:   lc.Identity.CognitoIdentityID,
	}, nil
}

func main() {
	lambda.Start(handle)
}

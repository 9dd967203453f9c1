// Command hello is the example function `make run` deploys: an unmodified
// aws-lambda-go handler, built as a `bootstrap` for the provided.al2023
// runtime.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

type event struct {
	Name string `json:"name"`
}

type response struct {
	Greeting  string `json:"greeting"`
	RequestID string `json:"requestId"`
	Function  string `json:"function"`
}

func handle(ctx context.Context, e event) (response, error) {
	lc, _ := lambdacontext.FromContext(ctx)
	name := e.Name
	if name == "" {
		name = "world"
	}
	greeting := os.Getenv("GREETING")
	if greeting == "" {
		greeting = "hello"
	}
	fmt.Printf("greeting %s\n", name)
	return response{Greeting: greeting + " " + name, RequestID: lc.AwsRequestID, Function: lambdacontext.FunctionName}, nil
}

func main() { lambda.Start(handle) }

// Command echo is the function every benchmark runs: an unmodified
// aws-lambda-go handler that returns its event, built as a static
// `bootstrap` for the provided.al2023 runtime.
package main

import (
	"context"
	"encoding/json"

	"github.com/aws/aws-lambda-go/lambda"
)

func handle(_ context.Context, event json.RawMessage) (json.RawMessage, error) {
	return event, nil
}

func main() { lambda.Start(handle) }

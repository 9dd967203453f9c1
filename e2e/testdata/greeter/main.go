// Command greeter is the second version of the e2e test function: it only
// greets, so a caller can tell which code ran.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(context.Context) (map[string]string, error) {
		return map[string]string{"greeting": "hello from v2"}, nil
	})
}

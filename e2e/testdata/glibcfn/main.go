// Command glibcfn is a custom-runtime function linked dynamically against
// glibc through cgo: it proves a provided.* base image carries the C
// library a dynamically linked bootstrap needs.
package main

// #include <gnu/libc-version.h>
import "C"

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(_ context.Context, ev map[string]any) (map[string]any, error) {
		return map[string]any{"glibc": C.GoString(C.gnu_get_libc_version()), "event": ev}, nil
	})
}

// Command imagefn is the e2e suite's container-image function. Like the
// entrypoint of AWS's base images, it starts the runtime client only when
// AWS_LAMBDA_RUNTIME_API is set (in Lambda); anywhere else it says so and
// exits, where AWS's would start the runtime interface emulator. Its
// answers show what the sandbox started it with.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
)

type event struct {
	Mode string `json:"mode"`
	Path string `json:"path"`
}

// envKeys are echoed when set.
var envKeys = []string{
	"_HANDLER", "AWS_EXECUTION_ENV", "AWS_LAMBDA_FUNCTION_NAME", "LAMBDA_TASK_ROOT",
	"IMAGE_VAR", "FN_VAR", "PATH", "TZ",
}

func handler(_ context.Context, raw json.RawMessage) (any, error) {
	var ev event
	if err := json.Unmarshal(raw, &ev); err != nil {
		return nil, err
	}
	switch ev.Mode {
	case "", "echo":
		cwd, err := os.Getwd()
		env := map[string]string{}
		for _, k := range envKeys {
			if v, ok := os.LookupEnv(k); ok {
				env[k] = v
			}
		}
		return map[string]any{"args": os.Args, "cwd": cwd, "cwdError": errString(err), "env": env, "uid": os.Getuid()}, nil
	case "readfile":
		b, err := os.ReadFile(ev.Path)
		return map[string]any{"content": string(b), "error": errString(err)}, nil
	case "lstat":
		fi, err := os.Lstat(ev.Path)
		if err != nil {
			return map[string]any{"error": errString(err)}, nil
		}
		return map[string]any{"error": "ok", "mode": fi.Mode().String(), "setuid": fi.Mode()&os.ModeSetuid != 0}, nil
	}
	return nil, fmt.Errorf("unknown mode %q", ev.Mode)
}

func errString(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}

func main() {
	if os.Getenv("AWS_LAMBDA_RUNTIME_API") == "" {
		fmt.Fprintln(os.Stderr, "imagefn: AWS_LAMBDA_RUNTIME_API is not set; outside Lambda this would start the runtime interface emulator")
		os.Exit(2)
	}
	lambda.Start(handler)
}

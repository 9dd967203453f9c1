package control

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/kumo-dev/kumo/runtime/kumo"
)

var (
	roleRE    = lazyRegexp(`^arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+$`)
	envKeyRE  = lazyRegexp(`^[a-zA-Z]([a-zA-Z0-9_])+$`)
	handlerRE = lazyRegexp(`^[^\s]{1,128}$`)
	tagKeyRE  = lazyRegexp(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]{1,128}$`)
)

// reservedEnv are the variables Lambda itself sets; Lambda refuses to let a
// function override them, and so do we.
var reservedEnv = []string{
	"_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION",
	"AWS_EXECUTION_ENV", "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
	"AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME",
	"AWS_LAMBDA_LOG_STREAM_NAME", "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
	"AWS_SESSION_TOKEN", "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
}

// lambdaRuntimes is every runtime identifier Lambda's API knows; a known one
// that this host cannot run gets a different message from a typo.
var lambdaRuntimes = []string{
	"nodejs", "nodejs4.3", "nodejs6.10", "nodejs8.10", "nodejs10.x", "nodejs12.x", "nodejs14.x",
	"nodejs16.x", "java8", "java8.al2", "java11", "python2.7", "python3.6", "python3.7", "python3.8",
	"python3.9", "dotnetcore1.0", "dotnetcore2.0", "dotnetcore2.1", "dotnetcore3.1", "dotnet6",
	"dotnet8", "nodejs4.3-edge", "go1.x", "ruby2.5", "ruby2.7", "provided", "provided.al2",
	"nodejs18.x", "python3.10", "java17", "ruby3.2", "ruby3.3", "ruby3.4", "python3.11", "nodejs20.x",
	"provided.al2023", "python3.12", "java21", "python3.13", "nodejs22.x", "nodejs24.x", "python3.14",
	"java25", "dotnet10", "ruby4.0",
}

func validationError(value any, field, constraint string) error {
	return kumo.InvalidParameter("1 validation error detected: Value '%v' at '%s' failed to satisfy constraint: %s", value, field, constraint)
}

func validateRole(role string) error {
	if !roleRE().MatchString(role) {
		return validationError(role, "role", `Member must satisfy regular expression pattern: arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+`)
	}
	return nil
}

func validateRuntime(runtime string, supported []string) error {
	if slices.Contains(supported, runtime) {
		return nil
	}
	if slices.Contains(lambdaRuntimes, runtime) {
		return kumo.InvalidParameter("The runtime parameter of %s is not supported by this kumo host. Supported runtimes: [%s]", runtime, strings.Join(supported, ", "))
	}
	return validationError(runtime, "runtime", "Member must satisfy enum value set: ["+strings.Join(lambdaRuntimes, ", ")+"]")
}

func validateHandler(h string) error {
	if !handlerRE().MatchString(h) {
		return validationError(h, "handler", `Member must satisfy regular expression pattern: [^\s]+ and have length less than or equal to 128`)
	}
	return nil
}

func validateRange(field string, v, lo, hi int) error {
	if v < lo {
		return validationError(v, field, fmt.Sprintf("Member must have value greater than or equal to %d", lo))
	}
	if v > hi {
		return validationError(v, field, fmt.Sprintf("Member must have value less than or equal to %d", hi))
	}
	return nil
}

func validateDescription(d string) error {
	if len(d) > kumo.MaxDescriptionLen {
		return validationError("...", "description", "Member must have length less than or equal to 256")
	}
	return nil
}

func validateEnvironment(env map[string]string) error {
	size := 0
	var reserved []string
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := env[k]
		if !envKeyRE().MatchString(k) {
			return kumo.InvalidParameter("1 validation error detected: Value at 'environment.variables' failed to satisfy constraint: Map keys must satisfy constraint: [Member must satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+] (key %q)", k)
		}
		if strings.ContainsRune(v, 0) {
			return kumo.InvalidParameter("Environment variable %s contains a NUL character", k)
		}
		if slices.Contains(reservedEnv, k) {
			reserved = append(reserved, k)
		}
		size += len(k) + len(v)
	}
	if len(reserved) > 0 {
		return kumo.InvalidParameter("Lambda was unable to configure your environment variables because the environment variables you have provided contains reserved keys that are currently not supported for modification. Reserved keys used in this request: %s", strings.Join(reserved, ","))
	}
	if size > kumo.MaxEnvironmentBytes {
		return kumo.InvalidParameter("Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit. String measured: %d bytes", size)
	}
	return nil
}

func validateArchitectures(archs []string) error {
	if len(archs) == 0 {
		return nil
	}
	if len(archs) != 1 {
		return validationError(archs, "architectures", "Member must have length less than or equal to 1")
	}
	switch archs[0] {
	case "x86_64":
		return nil
	case "arm64":
		return kumo.InvalidParameter("Architecture arm64 is not supported by this kumo host; supported: [x86_64]")
	default:
		return validationError(archs, "architectures", "Member must satisfy enum value set: [x86_64, arm64]")
	}
}

func validateTags(tags map[string]string) error {
	if len(tags) > kumo.MaxTagsPerFunction {
		return kumo.InvalidParameter("Number of tags exceeds resource tag limit of %d", kumo.MaxTagsPerFunction)
	}
	for k, v := range tags {
		if !tagKeyRE().MatchString(k) || strings.HasPrefix(strings.ToLower(k), "aws:") {
			return kumo.InvalidParameter("Tag key %q is not valid", k)
		}
		if len(v) > 256 {
			return kumo.InvalidParameter("Tag value for key %q is longer than 256 characters", k)
		}
	}
	return nil
}

func validateTracing(mode string) error {
	switch mode {
	case "Active", "PassThrough":
		return nil
	}
	return validationError(mode, "tracingConfig.mode", "Member must satisfy enum value set: [Active, PassThrough]")
}

// lazyRegexp compiles on first use: package initialisation runs again in
// every sandbox start (the daemon binary is re-executed as the container's
// init), so it must stay cheap.
func lazyRegexp(expr string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })
}

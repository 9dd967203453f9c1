package kumo

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
)

// Partition is the only ARN partition kumo hands out and accepts.
const Partition = "aws"

var (
	functionNameRE = lazyRegexp(`^[a-zA-Z0-9-_]{1,64}$`)
	qualifierRE    = lazyRegexp(`^(\$LATEST|[0-9]{1,10}|[a-zA-Z0-9-_]{1,128})$`)
	accountRE      = lazyRegexp(`^[0-9]{12}$`)
	regionRE       = lazyRegexp(`^[a-z0-9-]{1,32}$`)
)

// Scope names the region and account a host serves.
type Scope struct {
	Region  string
	Account string
}

// FunctionARN is the unqualified ARN of a function.
func (s Scope) FunctionARN(name string) string {
	return fmt.Sprintf("arn:%s:lambda:%s:%s:function:%s", Partition, s.Region, s.Account, name)
}

// QualifiedARN is the ARN of a function with a version or alias.
func (s Scope) QualifiedARN(name, qualifier string) string {
	if qualifier == "" {
		return s.FunctionARN(name)
	}
	return s.FunctionARN(name) + ":" + qualifier
}

// FunctionRef is a parsed FunctionName parameter.
type FunctionRef struct {
	Name      string
	Qualifier string // "" when none was given
}

// ValidFunctionName reports whether name is a bare Lambda function name.
func ValidFunctionName(name string) bool { return functionNameRE().MatchString(name) }

// ValidQualifier reports whether q is a version number, $LATEST or an alias name.
func ValidQualifier(q string) bool { return qualifierRE().MatchString(q) }

// ParseFunctionName accepts every form Lambda accepts for FunctionName:
// name, name:qualifier, ACCOUNT:function:name[:qualifier] and the full ARN
// with or without a qualifier. An ARN for another region or account does not
// resolve on this host and is reported as not found-free invalid input,
// so it can never name another tenant's function.
func (s Scope) ParseFunctionName(raw string) (FunctionRef, error) {
	if raw == "" {
		return FunctionRef{}, InvalidParameter("1 validation error detected: Value '' at 'functionName' failed to satisfy constraint: Member must have length greater than or equal to 1")
	}
	if len(raw) > 256 {
		return FunctionRef{}, InvalidParameter("1 validation error detected: Value at 'functionName' failed to satisfy constraint: Member must have length less than or equal to 256")
	}
	parts := strings.Split(raw, ":")
	var name, qual string
	// hasQual records that the form had a qualifier slot, so "fn:" (an
	// empty qualifier) is refused.
	hasQual := false
	switch {
	case len(parts) == 1:
		name = parts[0]
	case len(parts) == 2:
		name, qual, hasQual = parts[0], parts[1], true
	case (len(parts) == 3 || len(parts) == 4) && parts[1] == "function":
		if !accountRE().MatchString(parts[0]) {
			return FunctionRef{}, invalidName(raw)
		}
		if parts[0] != s.Account {
			return FunctionRef{}, Errorf(ErrInvalidParameter, "Function %s belongs to account %s, not to account %s of this host", raw, parts[0], s.Account)
		}
		name = parts[2]
		if len(parts) == 4 {
			qual, hasQual = parts[3], true
		}
	case (len(parts) == 7 || len(parts) == 8) && parts[0] == "arn" && parts[2] == "lambda" && parts[5] == "function":
		if parts[1] != Partition || !regionRE().MatchString(parts[3]) || !accountRE().MatchString(parts[4]) {
			return FunctionRef{}, invalidName(raw)
		}
		if parts[3] != s.Region || parts[4] != s.Account {
			return FunctionRef{}, Errorf(ErrInvalidParameter, "Function ARN %s is not in region %s and account %s of this host", raw, s.Region, s.Account)
		}
		name = parts[6]
		if len(parts) == 8 {
			qual, hasQual = parts[7], true
		}
	default:
		return FunctionRef{}, invalidName(raw)
	}
	if !ValidFunctionName(name) {
		return FunctionRef{}, invalidName(raw)
	}
	if hasQual && !ValidQualifier(qual) {
		return FunctionRef{}, invalidName(raw)
	}
	return FunctionRef{Name: name, Qualifier: qual}, nil
}

func invalidName(raw string) error {
	return InvalidParameter("1 validation error detected: Value '%s' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: (arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\\d{1}:)?(\\d{12}:)?(function:)?([a-zA-Z0-9-_\\.]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?", raw)
}

// lazyRegexp compiles on first use: package initialisation runs again in
// every sandbox start (the daemon binary is re-executed as the container's
// init), so it must stay cheap.
func lazyRegexp(expr string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })
}

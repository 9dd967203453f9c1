package control

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/kumo-dev/kumo/runtime/internal/store"
	"github.com/kumo-dev/kumo/runtime/kumo"
)

// Actions a function URL checks.
const (
	ActionInvokeFunctionURL = "lambda:InvokeFunctionUrl"
	ActionInvokeFunction    = "lambda:InvokeFunction"
)

// Condition keys Lambda writes into statements.
const (
	KeyFunctionURLAuthType   = "lambda:FunctionUrlAuthType"
	KeyInvokedViaFunctionURL = "lambda:InvokedViaFunctionUrl"
	KeySourceArn             = "AWS:SourceArn"
	KeySourceAccount         = "AWS:SourceAccount"
	KeyPrincipalOrgID        = "aws:PrincipalOrgID"
	KeyEventSourceToken      = "lambda:EventSourceToken"
)

var (
	statementIDRE   = lazyRegexp(`^[a-zA-Z0-9-_]{1,100}$`)
	removeSidRE     = lazyRegexp(`^[a-zA-Z0-9-_.]{1,100}$`)
	actionRE        = lazyRegexp(`^(lambda:[*]|lambda:[a-zA-Z]+|[*])$`)
	accountIDRE     = lazyRegexp(`^[0-9]{12}$`)
	rootARNRE       = lazyRegexp(`^arn:aws:iam::([0-9]{12}):root$`)
	iamARNRE        = lazyRegexp(`^arn:aws:iam::([0-9]{12}):(user|role)/[a-zA-Z0-9+=,.@_/-]{1,512}$`)
	servicePrinRE   = lazyRegexp(`^[a-z0-9][a-z0-9.-]{0,100}\.(amazonaws\.com|amazon\.com)$`)
	sourceArnRE     = lazyRegexp(`^arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\-])+:([a-z0-9-]*)?:(\d{12})?:(.*)$`)
	orgIDRE         = lazyRegexp(`^o-[a-z0-9]{10,32}$`)
	eventSourceTkRE = lazyRegexp(`^[a-zA-Z0-9._\-]{1,256}$`)
)

// Caller is who makes a request, for policy evaluation.
type Caller struct {
	Anonymous bool
	Account   string // the caller's account, for AWS principals
	ARN       string // the caller's IAM ARN, for AWS principals
	Service   string // a service principal such as s3.amazonaws.com
}

// Anonymous is the caller of an unsigned request.
var Anonymous = Caller{Anonymous: true}

// PermissionInput is AddPermission's request.
type PermissionInput struct {
	StatementID           string
	Action                string
	Principal             string
	SourceArn             string
	SourceAccount         string
	EventSourceToken      string
	RevisionID            string
	PrincipalOrgID        string
	FunctionURLAuthType   string
	InvokedViaFunctionURL *bool
}

// BuildStatement validates an AddPermission request and returns the
// statement Lambda would write for it on resource.
func BuildStatement(resource string, in PermissionInput) (kumo.Statement, error) {
	switch {
	case in.StatementID == "":
		return kumo.Statement{}, nullError("statementId")
	case !statementIDRE().MatchString(in.StatementID):
		return kumo.Statement{}, validationError(in.StatementID, "statementId", "Member must satisfy regular expression pattern: ([a-zA-Z0-9-_]+)")
	case in.Action == "":
		return kumo.Statement{}, nullError("action")
	case !actionRE().MatchString(in.Action):
		return kumo.Statement{}, validationError(in.Action, "action", "Member must satisfy regular expression pattern: (lambda:[*]|lambda:[a-zA-Z]+|[*])")
	case in.Principal == "":
		return kumo.Statement{}, nullError("principal")
	}
	p, err := parsePrincipal(in.Principal)
	if err != nil {
		return kumo.Statement{}, err
	}
	st := kumo.Statement{Sid: in.StatementID, Effect: "Allow", Principal: p, Action: in.Action, Resource: resource}
	cond := map[string]map[string]string{}
	add := func(op, key, val string) {
		if cond[op] == nil {
			cond[op] = map[string]string{}
		}
		cond[op][key] = val
	}
	if in.SourceArn != "" {
		if !sourceArnRE().MatchString(in.SourceArn) {
			return kumo.Statement{}, validationError(in.SourceArn, "sourceArn", "Member must satisfy regular expression pattern: arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\\-])+:([a-z]{2}(-gov)?-[a-z]+-\\d{1})?:(\\d{12})?:(.*)")
		}
		add("ArnLike", KeySourceArn, in.SourceArn)
	}
	if in.SourceAccount != "" {
		if !accountIDRE().MatchString(in.SourceAccount) {
			return kumo.Statement{}, validationError(in.SourceAccount, "sourceAccount", "Member must satisfy regular expression pattern: \\d{12}")
		}
		add("StringEquals", KeySourceAccount, in.SourceAccount)
	}
	if in.PrincipalOrgID != "" {
		if !orgIDRE().MatchString(in.PrincipalOrgID) {
			return kumo.Statement{}, validationError(in.PrincipalOrgID, "principalOrgID", "Member must satisfy regular expression pattern: o-[a-z0-9]{10,32}")
		}
		add("StringEquals", KeyPrincipalOrgID, in.PrincipalOrgID)
	}
	if in.EventSourceToken != "" {
		if !eventSourceTkRE().MatchString(in.EventSourceToken) {
			return kumo.Statement{}, validationError(in.EventSourceToken, "eventSourceToken", "Member must satisfy regular expression pattern: [a-zA-Z0-9._\\-]+")
		}
		add("StringEquals", KeyEventSourceToken, in.EventSourceToken)
	}
	if in.FunctionURLAuthType != "" {
		if in.FunctionURLAuthType != kumo.URLAuthNone && in.FunctionURLAuthType != kumo.URLAuthIAM {
			return kumo.Statement{}, validationError(in.FunctionURLAuthType, "functionUrlAuthType", "Member must satisfy enum value set: [NONE, AWS_IAM]")
		}
		if !strings.EqualFold(in.Action, ActionInvokeFunctionURL) && in.Action != "lambda:*" && in.Action != "*" {
			return kumo.Statement{}, kumo.InvalidParameter("FunctionUrlAuthType is only supported for the %s action", ActionInvokeFunctionURL)
		}
		add("StringEquals", KeyFunctionURLAuthType, in.FunctionURLAuthType)
	}
	if in.InvokedViaFunctionURL != nil && *in.InvokedViaFunctionURL {
		add("Bool", KeyInvokedViaFunctionURL, "true")
	}
	if len(cond) > 0 {
		st.Condition = cond
	}
	return st, nil
}

// parsePrincipal accepts Lambda's principal forms: "*", an account id, an
// account root, user or role ARN, or a service principal.
func parsePrincipal(raw string) (kumo.Principal, error) {
	switch {
	case raw == "*":
		return kumo.Principal{AWS: "*"}, nil
	case accountIDRE().MatchString(raw):
		return kumo.Principal{AWS: "arn:aws:iam::" + raw + ":root"}, nil
	case rootARNRE().MatchString(raw), iamARNRE().MatchString(raw):
		return kumo.Principal{AWS: raw}, nil
	case servicePrinRE().MatchString(raw):
		return kumo.Principal{Service: raw}, nil
	}
	return kumo.Principal{}, kumo.InvalidParameter("The provided principal was invalid. Please check the principal and try again.")
}

// policyRef resolves FunctionName and ?Qualifier= for the policy calls;
// $LATEST shares the unqualified function's policy.
func (s *Service) policyRef(ctx context.Context, name, qualifier string) (kumo.FunctionRef, error) {
	ref, err := s.scope.ParseFunctionName(name)
	if err != nil {
		return ref, err
	}
	if qualifier != "" {
		if !kumo.ValidQualifier(qualifier) {
			return ref, validationError(qualifier, "qualifier", "Member must satisfy regular expression pattern: (|[a-zA-Z0-9$_-]+)")
		}
		if ref.Qualifier != "" && ref.Qualifier != qualifier {
			return ref, kumo.InvalidParameter("The derived qualifier from the function name does not match the specified qualifier.")
		}
		ref.Qualifier = qualifier
	}
	// The function (version, alias) must exist.
	if _, err := s.GetFunction(ctx, ref.Name, ref.Qualifier); err != nil {
		return ref, err
	}
	if ref.Qualifier == kumo.VersionLatest {
		ref.Qualifier = ""
	}
	return ref, nil
}

// AddPermission adds a statement to a function's resource policy and
// returns it as Lambda does: a JSON string.
func (s *Service) AddPermission(ctx context.Context, name, qualifier string, in PermissionInput) (string, error) {
	as, err := s.accessStore()
	if err != nil {
		return "", err
	}
	ref, err := s.policyRef(ctx, name, qualifier)
	if err != nil {
		return "", err
	}
	st, err := BuildStatement(s.scope.QualifiedARN(ref.Name, ref.Qualifier), in)
	if err != nil {
		return "", err
	}
	for range 5 {
		cur, rev, err := as.GetPolicy(ctx, ref.Name, ref.Qualifier)
		switch {
		case errors.Is(err, kumo.ErrNotFound):
			cur, rev = &kumo.Policy{Function: ref.Name, Qualifier: ref.Qualifier}, 0
		case err != nil:
			return "", fmt.Errorf("get policy of %s: %w", ref.Name, err)
		}
		if in.RevisionID != "" && in.RevisionID != cur.RevisionID {
			return "", policyRevisionMismatch()
		}
		if slices.ContainsFunc(cur.Statements, func(x kumo.Statement) bool { return x.Sid == st.Sid }) {
			return "", kumo.Errorf(kumo.ErrConflict, "The statement id (%s) provided already exists. Please provide a new statement id, or remove the existing statement.", st.Sid)
		}
		next := cur.Clone()
		next.Statements = append(next.Statements, st)
		next.RevisionID = uuid.NewString()
		doc, err := next.Document()
		if err != nil {
			return "", fmt.Errorf("encode policy of %s: %w", ref.Name, err)
		}
		if len(doc) > kumo.MaxPolicyBytes {
			return "", kumo.Errorf(kumo.ErrPolicyLengthExceeded, "The final policy size (%d) is bigger than the limit (%d).", len(doc), kumo.MaxPolicyBytes)
		}
		nextRev, err := as.PutPolicy(ctx, next, rev)
		if errors.Is(err, kumo.ErrConflict) {
			continue // a concurrent change: check it again
		}
		if err != nil {
			return "", fmt.Errorf("put policy of %s: %w", ref.Name, err)
		}
		key, _ := store.AccessKey(ref.Name, ref.Qualifier)
		s.access.applyPolicy(key, nextRev, next)
		s.log.InfoContext(ctx, "permission added", "function", ref.Name, "qualifier", ref.Qualifier, "sid", st.Sid)
		return statementJSON(st)
	}
	return "", s.busy(ref.Name)
}

// RemovePermission removes a statement; the last one removes the policy.
func (s *Service) RemovePermission(ctx context.Context, name, qualifier, sid, revisionID string) error {
	as, err := s.accessStore()
	if err != nil {
		return err
	}
	if !removeSidRE().MatchString(sid) {
		return validationError(sid, "statementId", "Member must satisfy regular expression pattern: ([a-zA-Z0-9-_.]+)")
	}
	ref, err := s.policyRef(ctx, name, qualifier)
	if err != nil {
		return err
	}
	key, _ := store.AccessKey(ref.Name, ref.Qualifier)
	for range 5 {
		cur, rev, err := as.GetPolicy(ctx, ref.Name, ref.Qualifier)
		if errors.Is(err, kumo.ErrNotFound) {
			return kumo.NotFound("No policy is associated with the given resource.")
		}
		if err != nil {
			return fmt.Errorf("get policy of %s: %w", ref.Name, err)
		}
		if revisionID != "" && revisionID != cur.RevisionID {
			return policyRevisionMismatch()
		}
		i := slices.IndexFunc(cur.Statements, func(x kumo.Statement) bool { return x.Sid == sid })
		if i < 0 {
			return kumo.NotFound("Statement %s is not found in resource policy.", sid)
		}
		next := cur.Clone()
		next.Statements = slices.Delete(next.Statements, i, i+1)
		next.RevisionID = uuid.NewString()
		if len(next.Statements) == 0 {
			err = as.DeletePolicy(ctx, ref.Name, ref.Qualifier, rev)
			if err == nil {
				s.access.applyPolicy(key, rev, nil)
			}
		} else {
			var nextRev uint64
			nextRev, err = as.PutPolicy(ctx, next, rev)
			if err == nil {
				s.access.applyPolicy(key, nextRev, next)
			}
		}
		if errors.Is(err, kumo.ErrConflict) {
			continue
		}
		if err != nil {
			return fmt.Errorf("remove permission %s of %s: %w", sid, ref.Name, err)
		}
		s.log.InfoContext(ctx, "permission removed", "function", ref.Name, "qualifier", ref.Qualifier, "sid", sid)
		return nil
	}
	return s.busy(ref.Name)
}

// GetPolicy returns the policy document (a JSON string) and its revision.
func (s *Service) GetPolicy(ctx context.Context, name, qualifier string) (string, string, error) {
	as, err := s.accessStore()
	if err != nil {
		return "", "", err
	}
	ref, err := s.policyRef(ctx, name, qualifier)
	if err != nil {
		return "", "", err
	}
	p, _, err := as.GetPolicy(ctx, ref.Name, ref.Qualifier)
	if errors.Is(err, kumo.ErrNotFound) {
		return "", "", kumo.NotFound("The resource you requested does not exist.")
	}
	if err != nil {
		return "", "", fmt.Errorf("get policy of %s: %w", ref.Name, err)
	}
	doc, err := p.Document()
	if err != nil {
		return "", "", fmt.Errorf("encode policy of %s: %w", ref.Name, err)
	}
	return doc, p.RevisionID, nil
}

func nullError(field string) error {
	return kumo.InvalidParameter("1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", field)
}

func (s *Service) busy(name string) error {
	return kumo.Errorf(kumo.ErrConflict, "The operation cannot be performed at this time. An update is in progress for resource: %s", s.scope.FunctionARN(name))
}

func policyRevisionMismatch() error {
	return kumo.Errorf(kumo.ErrPreconditionFailed, "The Revision Id provided does not match the latest Revision Id. Call the GetPolicy API to retrieve the latest Revision Id")
}

func statementJSON(st kumo.Statement) (string, error) {
	p := kumo.Policy{Statements: []kumo.Statement{st}}
	doc, err := p.Document()
	if err != nil {
		return "", err
	}
	// The document is {"Version":…,"Id":…,"Statement":[ST]}; cut out ST so
	// the statement is encoded exactly as in the policy.
	start := strings.Index(doc, `"Statement":[`) + len(`"Statement":[`)
	return doc[start : len(doc)-2], nil
}

// evaluate applies IAM's rules to one policy: an explicit Deny beats an
// Allow, which beats the implicit deny.
func evaluate(p *kumo.Policy, resource string, req AccessRequest) bool {
	allowed := false
	for _, st := range p.Statements {
		if !principalMatches(st.Principal, req.Caller) || !actionMatches(st.Action, req.Action) ||
			!globMatch(st.Resource, resource) || !conditionsHold(st.Condition, req.Context) {
			continue
		}
		switch st.Effect {
		case "Deny":
			return false
		case "Allow":
			allowed = true
		}
	}
	return allowed
}

func principalMatches(p kumo.Principal, c Caller) bool {
	switch {
	case p.Service != "":
		return c.Service == p.Service
	case p.AWS == "*":
		return true
	case c.Anonymous || p.AWS == "":
		return false
	}
	if m := rootARNRE().FindStringSubmatch(p.AWS); m != nil {
		return c.Account == m[1]
	}
	return c.ARN == p.AWS
}

func actionMatches(pattern, action string) bool {
	return globMatch(strings.ToLower(pattern), strings.ToLower(action))
}

// conditionsHold reports whether every condition holds for ctx. A key the
// request does not carry fails the condition (negated operators pass),
// and an operator kumo does not know fails closed.
func conditionsHold(cond map[string]map[string]string, ctx map[string]string) bool {
	for op, pairs := range cond {
		for key, want := range pairs {
			got, ok := lookupFold(ctx, key)
			var hold bool
			switch op {
			case "StringEquals", "ArnEquals":
				hold = ok && got == want
			case "StringEqualsIgnoreCase":
				hold = ok && strings.EqualFold(got, want)
			case "StringNotEquals":
				hold = !ok || got != want
			case "StringLike", "ArnLike":
				hold = ok && globMatch(want, got)
			case "Bool":
				hold = ok && strings.EqualFold(got, want)
			}
			if !hold {
				return false
			}
		}
	}
	return true
}

// IAM condition keys are case-insensitive.
func lookupFold(m map[string]string, key string) (string, bool) {
	if v, ok := m[key]; ok {
		return v, true
	}
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return "", false
}

// globMatch matches s against pattern, where * is any run of characters
// and ? any one. It runs in O(len(pattern)·len(s)) at worst, so hostile
// patterns cannot blow up.
func globMatch(pattern, s string) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			p++
			i++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

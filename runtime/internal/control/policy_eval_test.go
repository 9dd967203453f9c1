package control

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/kumo-dev/kumo/runtime/kumo"
)

func TestEvaluate(t *testing.T) {
	t.Parallel()
	const fn = "arn:aws:lambda:local:000000000000:function:f"
	urlNone := map[string]string{KeyFunctionURLAuthType: "NONE"}
	public := kumo.Statement{Sid: "url", Effect: "Allow", Principal: kumo.Principal{AWS: "*"}, Action: ActionInvokeFunctionURL, Resource: fn,
		Condition: map[string]map[string]string{"StringEquals": {KeyFunctionURLAuthType: "NONE"}}}
	tests := []struct {
		name     string
		stmts    []kumo.Statement
		resource string
		req      AccessRequest
		want     bool
	}{
		{"public url statement allows", []kumo.Statement{public}, fn, AccessRequest{Action: ActionInvokeFunctionURL, Caller: Anonymous, Context: urlNone}, true},
		{"action is case-insensitive", []kumo.Statement{public}, fn, AccessRequest{Action: "LAMBDA:invokefunctionurl", Caller: Anonymous, Context: urlNone}, true},
		{"condition key is case-insensitive", []kumo.Statement{public}, fn, AccessRequest{Action: ActionInvokeFunctionURL, Caller: Anonymous, Context: map[string]string{"LAMBDA:functionurlauthtype": "NONE"}}, true},
		{"wrong auth type in context", []kumo.Statement{public}, fn, AccessRequest{Action: ActionInvokeFunctionURL, Caller: Anonymous, Context: map[string]string{KeyFunctionURLAuthType: "AWS_IAM"}}, false},
		{"missing condition key fails closed", []kumo.Statement{public}, fn, AccessRequest{Action: ActionInvokeFunctionURL, Caller: Anonymous}, false},
		{"other action", []kumo.Statement{public}, fn, AccessRequest{Action: ActionInvokeFunction, Caller: Anonymous, Context: urlNone}, false},
		{"statement for an alias does not cover the function", []kumo.Statement{{Effect: "Allow", Principal: kumo.Principal{AWS: "*"}, Action: "lambda:*", Resource: fn + ":live"}}, fn,
			AccessRequest{Action: ActionInvokeFunctionURL, Caller: Anonymous}, false},
		{"unqualified statement does not cover an alias", []kumo.Statement{public}, fn + ":live", AccessRequest{Action: ActionInvokeFunctionURL, Caller: Anonymous, Context: urlNone}, false},
		{"wildcard resource", []kumo.Statement{{Effect: "Allow", Principal: kumo.Principal{AWS: "*"}, Action: "*", Resource: fn + ":*"}}, fn + ":live", AccessRequest{Action: ActionInvokeFunction, Caller: Anonymous}, true},
		{"account principal rejects anonymous", []kumo.Statement{{Effect: "Allow", Principal: kumo.Principal{AWS: "arn:aws:iam::111122223333:root"}, Action: "lambda:*", Resource: fn}}, fn,
			AccessRequest{Action: ActionInvokeFunction, Caller: Anonymous}, false},
		{"account principal allows its account", []kumo.Statement{{Effect: "Allow", Principal: kumo.Principal{AWS: "arn:aws:iam::111122223333:root"}, Action: "lambda:*", Resource: fn}}, fn,
			AccessRequest{Action: ActionInvokeFunction, Caller: Caller{Account: "111122223333", ARN: "arn:aws:iam::111122223333:role/r"}}, true},
		{"account principal rejects other account", []kumo.Statement{{Effect: "Allow", Principal: kumo.Principal{AWS: "arn:aws:iam::111122223333:root"}, Action: "lambda:*", Resource: fn}}, fn,
			AccessRequest{Action: ActionInvokeFunction, Caller: Caller{Account: "444455556666"}}, false},
		{"service principal needs that service", []kumo.Statement{{Effect: "Allow", Principal: kumo.Principal{Service: "s3.amazonaws.com"}, Action: ActionInvokeFunction, Resource: fn}}, fn,
			AccessRequest{Action: ActionInvokeFunction, Caller: Anonymous}, false},
		{"service principal with source arn", []kumo.Statement{{Effect: "Allow", Principal: kumo.Principal{Service: "s3.amazonaws.com"}, Action: ActionInvokeFunction, Resource: fn,
			Condition: map[string]map[string]string{"ArnLike": {KeySourceArn: "arn:aws:s3:::bucket-*"}}}}, fn,
			AccessRequest{Action: ActionInvokeFunction, Caller: Caller{Service: "s3.amazonaws.com"}, Context: map[string]string{KeySourceArn: "arn:aws:s3:::bucket-1"}}, true},
		{"source arn mismatch", []kumo.Statement{{Effect: "Allow", Principal: kumo.Principal{Service: "s3.amazonaws.com"}, Action: ActionInvokeFunction, Resource: fn,
			Condition: map[string]map[string]string{"ArnLike": {KeySourceArn: "arn:aws:s3:::bucket-*"}}}}, fn,
			AccessRequest{Action: ActionInvokeFunction, Caller: Caller{Service: "s3.amazonaws.com"}, Context: map[string]string{KeySourceArn: "arn:aws:s3:::other"}}, false},
		{"explicit deny wins", []kumo.Statement{public, {Effect: "Deny", Principal: kumo.Principal{AWS: "*"}, Action: "lambda:*", Resource: fn}}, fn,
			AccessRequest{Action: ActionInvokeFunctionURL, Caller: Anonymous, Context: urlNone}, false},
		{"unknown operator fails closed", []kumo.Statement{{Effect: "Allow", Principal: kumo.Principal{AWS: "*"}, Action: "*", Resource: fn,
			Condition: map[string]map[string]string{"NumericLessThan": {"x": "1"}}}}, fn, AccessRequest{Action: ActionInvokeFunction, Caller: Anonymous, Context: map[string]string{"x": "0"}}, false},
		{"unknown effect ignored", []kumo.Statement{{Effect: "allow", Principal: kumo.Principal{AWS: "*"}, Action: "*", Resource: fn}}, fn, AccessRequest{Action: ActionInvokeFunction, Caller: Anonymous}, false},
		{"empty policy", nil, fn, AccessRequest{Action: ActionInvokeFunction, Caller: Anonymous}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, evaluate(&kumo.Policy{Statements: tc.stmts}, tc.resource, tc.req))
		})
	}
}

func TestGlobMatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"", "", true},
		{"*", "", true},
		{"*", "anything", true},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"arn:*:s3:::b-*", "arn:aws:s3:::b-1", true},
		{"arn:*:s3:::b-*", "arn:aws:s3:::c-1", false},
		{"abc", "abcd", false},
		{"*x", "aaaaax", true},
		// A pattern that is exponential for naive backtracking.
		{strings.Repeat("a*", 30) + "b", strings.Repeat("a", 5000), false},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, globMatch(tc.pattern, tc.s), "%q ~ %q", tc.pattern, tc.s)
	}
}

package control_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kumo-dev/kumo/runtime/image"
	"github.com/kumo-dev/kumo/runtime/internal/control"
	"github.com/kumo-dev/kumo/runtime/internal/store"
	"github.com/kumo-dev/kumo/runtime/kumo"
)

const fnARN = "arn:aws:lambda:local:000000000000:function:"

func TestBuildStatement(t *testing.T) {
	t.Parallel()
	res := fnARN + "f"
	yes := true
	tests := []struct {
		name string
		in   control.PermissionInput
		want string // the statement's JSON, or the error text
		kind error
	}{
		{"public url", control.PermissionInput{StatementID: "url", Action: "lambda:InvokeFunctionUrl", Principal: "*", FunctionURLAuthType: "NONE"},
			`{"Sid":"url","Effect":"Allow","Principal":"*","Action":"lambda:InvokeFunctionUrl","Resource":"` + res + `","Condition":{"StringEquals":{"lambda:FunctionUrlAuthType":"NONE"}}}`, nil},
		{"account id", control.PermissionInput{StatementID: "a", Action: "lambda:InvokeFunction", Principal: "111122223333"},
			`{"Sid":"a","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"lambda:InvokeFunction","Resource":"` + res + `"}`, nil},
		{"root arn", control.PermissionInput{StatementID: "a", Action: "lambda:*", Principal: "arn:aws:iam::111122223333:root"},
			`{"Sid":"a","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"lambda:*","Resource":"` + res + `"}`, nil},
		{"role arn", control.PermissionInput{StatementID: "a", Action: "*", Principal: "arn:aws:iam::111122223333:role/path/r"},
			`{"Sid":"a","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/path/r"},"Action":"*","Resource":"` + res + `"}`, nil},
		{"service with source", control.PermissionInput{StatementID: "s3", Action: "lambda:InvokeFunction", Principal: "s3.amazonaws.com",
			SourceArn: "arn:aws:s3:::bucket", SourceAccount: "111122223333", InvokedViaFunctionURL: &yes},
			`{"Sid":"s3","Effect":"Allow","Principal":{"Service":"s3.amazonaws.com"},"Action":"lambda:InvokeFunction","Resource":"` + res + `","Condition":{"ArnLike":{"AWS:SourceArn":"arn:aws:s3:::bucket"},"Bool":{"lambda:InvokedViaFunctionUrl":"true"},"StringEquals":{"AWS:SourceAccount":"111122223333"}}}`, nil},
		{"org and token", control.PermissionInput{StatementID: "o", Action: "lambda:InvokeFunction", Principal: "*", PrincipalOrgID: "o-abcdefghij", EventSourceToken: "tok.1"},
			`{"Sid":"o","Effect":"Allow","Principal":"*","Action":"lambda:InvokeFunction","Resource":"` + res + `","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-abcdefghij","lambda:EventSourceToken":"tok.1"}}}`, nil},

		{"bad principal word", control.PermissionInput{StatementID: "a", Action: "lambda:InvokeFunction", Principal: "bob"}, "The provided principal was invalid", kumo.ErrInvalidParameter},
		{"short account", control.PermissionInput{StatementID: "a", Action: "lambda:InvokeFunction", Principal: "12345"}, "principal was invalid", kumo.ErrInvalidParameter},
		{"root arn with short account", control.PermissionInput{StatementID: "a", Action: "lambda:InvokeFunction", Principal: "arn:aws:iam::123:root"}, "principal was invalid", kumo.ErrInvalidParameter},
		{"group arn", control.PermissionInput{StatementID: "a", Action: "lambda:InvokeFunction", Principal: "arn:aws:iam::111122223333:group/g"}, "principal was invalid", kumo.ErrInvalidParameter},
		{"service lookalike", control.PermissionInput{StatementID: "a", Action: "lambda:InvokeFunction", Principal: "s3.amazonaws.com.evil.example"}, "principal was invalid", kumo.ErrInvalidParameter},
		{"padded star", control.PermissionInput{StatementID: "a", Action: "lambda:InvokeFunction", Principal: " * "}, "principal was invalid", kumo.ErrInvalidParameter},
		{"json principal", control.PermissionInput{StatementID: "a", Action: "lambda:InvokeFunction", Principal: `{"AWS":"*"}`}, "principal was invalid", kumo.ErrInvalidParameter},
		{"missing principal", control.PermissionInput{StatementID: "a", Action: "lambda:InvokeFunction"}, "Value null at 'principal'", kumo.ErrInvalidParameter},
		{"missing sid", control.PermissionInput{Action: "lambda:InvokeFunction", Principal: "*"}, "Value null at 'statementId'", kumo.ErrInvalidParameter},
		{"bad sid", control.PermissionInput{StatementID: "a b", Action: "lambda:InvokeFunction", Principal: "*"}, "statementId", kumo.ErrInvalidParameter},
		{"long sid", control.PermissionInput{StatementID: strings.Repeat("a", 101), Action: "lambda:InvokeFunction", Principal: "*"}, "statementId", kumo.ErrInvalidParameter},
		{"bad action", control.PermissionInput{StatementID: "a", Action: "s3:GetObject", Principal: "*"}, "action", kumo.ErrInvalidParameter},
		{"action injection", control.PermissionInput{StatementID: "a", Action: "lambda:Invoke\"}", Principal: "*"}, "action", kumo.ErrInvalidParameter},
		{"bad auth type", control.PermissionInput{StatementID: "a", Action: "lambda:InvokeFunctionUrl", Principal: "*", FunctionURLAuthType: "OPEN"}, "functionUrlAuthType", kumo.ErrInvalidParameter},
		{"auth type on other action", control.PermissionInput{StatementID: "a", Action: "lambda:GetFunction", Principal: "*", FunctionURLAuthType: "NONE"}, "only supported", kumo.ErrInvalidParameter},
		{"bad source arn", control.PermissionInput{StatementID: "a", Action: "lambda:InvokeFunction", Principal: "s3.amazonaws.com", SourceArn: "bucket"}, "sourceArn", kumo.ErrInvalidParameter},
		{"bad source account", control.PermissionInput{StatementID: "a", Action: "lambda:InvokeFunction", Principal: "s3.amazonaws.com", SourceAccount: "12"}, "sourceAccount", kumo.ErrInvalidParameter},
		{"bad org", control.PermissionInput{StatementID: "a", Action: "lambda:InvokeFunction", Principal: "*", PrincipalOrgID: "org"}, "principalOrgID", kumo.ErrInvalidParameter},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st, err := control.BuildStatement(res, tc.in)
			if tc.kind != nil {
				require.ErrorIs(t, err, tc.kind)
				assert.Contains(t, err.Error(), tc.want)
				return
			}
			require.NoError(t, err)
			b, err := json.Marshal(st)
			require.NoError(t, err)
			assert.JSONEq(t, tc.want, string(b))
		})
	}
}

func publicURL(sid string) control.PermissionInput {
	return control.PermissionInput{StatementID: sid, Action: control.ActionInvokeFunctionURL, Principal: "*", FunctionURLAuthType: kumo.URLAuthNone}
}

func anonymousURLCall(fn string) control.AccessRequest {
	return control.AccessRequest{Function: fn, Action: control.ActionInvokeFunctionURL, Caller: control.Anonymous,
		Context: map[string]string{control.KeyFunctionURLAuthType: kumo.URLAuthNone}}
}

func TestPermissions(t *testing.T) {
	t.Parallel()
	svc, _ := newService(t)
	ctx := t.Context()
	_, err := svc.CreateFunction(ctx, createInput("p", testZip(t, map[string]string{"bootstrap": "x"})))
	require.NoError(t, err)

	_, _, err = svc.GetPolicy(ctx, "p", "")
	require.ErrorIs(t, err, kumo.ErrNotFound)
	assert.False(t, svc.Authorize(anonymousURLCall("p")))

	st, err := svc.AddPermission(ctx, "p", "", publicURL("url"))
	require.NoError(t, err)
	assert.JSONEq(t, `{"Sid":"url","Effect":"Allow","Principal":"*","Action":"lambda:InvokeFunctionUrl","Resource":"`+fnARN+`p","Condition":{"StringEquals":{"lambda:FunctionUrlAuthType":"NONE"}}}`, st)
	assert.True(t, svc.Authorize(anonymousURLCall("p")), "own write is visible at once")

	_, err = svc.AddPermission(ctx, "p", "", publicURL("url"))
	require.ErrorIs(t, err, kumo.ErrConflict)
	assert.Contains(t, err.Error(), "The statement id (url) provided already exists")

	_, err = svc.AddPermission(ctx, "p", "", control.PermissionInput{StatementID: "x", Action: "lambda:InvokeFunction", Principal: "nobody"})
	require.ErrorIs(t, err, kumo.ErrInvalidParameter)

	doc, rev, err := svc.GetPolicy(ctx, "p", "")
	require.NoError(t, err)
	require.NotEmpty(t, rev)
	var policy struct {
		Version, Id string
		Statement   []map[string]any
	}
	require.NoError(t, json.Unmarshal([]byte(doc), &policy))
	assert.Equal(t, "2012-10-17", policy.Version)
	assert.Equal(t, "default", policy.Id)
	require.Len(t, policy.Statement, 1)

	in := control.PermissionInput{StatementID: "acct", Action: "lambda:InvokeFunction", Principal: "111122223333", RevisionID: "stale"}
	_, err = svc.AddPermission(ctx, "p", "", in)
	require.ErrorIs(t, err, kumo.ErrPreconditionFailed)
	in.RevisionID = rev
	_, err = svc.AddPermission(ctx, "p", "", in)
	require.NoError(t, err)

	require.ErrorIs(t, svc.RemovePermission(ctx, "p", "", "url", rev), kumo.ErrPreconditionFailed, "rev moved on")
	require.ErrorIs(t, svc.RemovePermission(ctx, "p", "", "nope", ""), kumo.ErrNotFound)
	require.ErrorIs(t, svc.RemovePermission(ctx, "p", "", "bad/sid", ""), kumo.ErrInvalidParameter)
	require.NoError(t, svc.RemovePermission(ctx, "p", "", "url", ""))
	assert.False(t, svc.Authorize(anonymousURLCall("p")), "removal takes effect at once")
	require.NoError(t, svc.RemovePermission(ctx, "p", "", "acct", ""))
	_, _, err = svc.GetPolicy(ctx, "p", "")
	require.ErrorIs(t, err, kumo.ErrNotFound, "the last statement removes the policy")

	// Unknown function, unknown version.
	_, err = svc.AddPermission(ctx, "nope", "", publicURL("u"))
	require.ErrorIs(t, err, kumo.ErrNotFound)
	_, err = svc.AddPermission(ctx, "p", "42", publicURL("u"))
	require.ErrorIs(t, err, kumo.ErrNotFound)
}

func TestPermissions_PolicyLimit(t *testing.T) {
	t.Parallel()
	svc, _ := newService(t)
	ctx := t.Context()
	_, err := svc.CreateFunction(ctx, createInput("big", testZip(t, map[string]string{"bootstrap": "x"})))
	require.NoError(t, err)
	var lastErr error
	for i := range 100 {
		_, lastErr = svc.AddPermission(ctx, "big", "", control.PermissionInput{
			StatementID: fmt.Sprintf("s%d", i), Action: "lambda:InvokeFunction", Principal: "s3.amazonaws.com",
			SourceArn: "arn:aws:s3:::" + strings.Repeat("b", 400),
		})
		if lastErr != nil {
			break
		}
	}
	require.ErrorIs(t, lastErr, kumo.ErrPolicyLengthExceeded)
	assert.Contains(t, lastErr.Error(), "bigger than the limit (20480)")
	doc, _, err := svc.GetPolicy(ctx, "big", "")
	require.NoError(t, err)
	assert.LessOrEqual(t, len(doc), kumo.MaxPolicyBytes)
}

func TestFunctionURLConfigs(t *testing.T) {
	t.Parallel()
	svc, _ := newService(t)
	ctx := t.Context()
	_, err := svc.CreateFunction(ctx, createInput("u", testZip(t, map[string]string{"bootstrap": "x"})))
	require.NoError(t, err)
	none, iam, stream := kumo.URLAuthNone, kumo.URLAuthIAM, kumo.InvokeStream

	_, err = svc.GetFunctionURLConfig(ctx, "u", "")
	require.ErrorIs(t, err, kumo.ErrNotFound)

	c, err := svc.CreateFunctionURLConfig(ctx, "u", "", control.URLConfigInput{AuthType: &none})
	require.NoError(t, err)
	assert.Regexp(t, `^[a-z0-9]{32}$`, c.ID)
	assert.Equal(t, kumo.InvokeBuffered, c.InvokeMode)
	assert.Nil(t, c.Cors)
	got, ok := svc.FunctionURL(c.ID)
	require.True(t, ok)
	assert.Equal(t, "u", got.Function)

	_, err = svc.CreateFunctionURLConfig(ctx, "u", "", control.URLConfigInput{AuthType: &none})
	require.ErrorIs(t, err, kumo.ErrConflict)
	assert.Contains(t, err.Error(), "FunctionUrlConfig exists")

	up, err := svc.UpdateFunctionURLConfig(ctx, "u", "", control.URLConfigInput{AuthType: &iam, InvokeMode: &stream,
		Cors: &kumo.Cors{AllowOrigins: []string{"*"}, AllowMethods: []string{"GET"}, MaxAge: 60}})
	require.NoError(t, err)
	assert.Equal(t, c.ID, up.ID, "the URL never changes")
	assert.Equal(t, kumo.URLAuthIAM, up.AuthType)
	assert.Equal(t, 60, up.Cors.MaxAge)
	got, _ = svc.FunctionURL(c.ID)
	assert.Equal(t, kumo.URLAuthIAM, got.AuthType)
	// An empty Cors removes it.
	up, err = svc.UpdateFunctionURLConfig(ctx, "u", "", control.URLConfigInput{Cors: &kumo.Cors{}})
	require.NoError(t, err)
	assert.Nil(t, up.Cors)

	list, next, err := svc.ListFunctionURLConfigs(ctx, "u", "", 0)
	require.NoError(t, err)
	assert.Empty(t, next)
	require.Len(t, list, 1)

	require.NoError(t, svc.DeleteFunctionURLConfig(ctx, "u", ""))
	_, ok = svc.FunctionURL(c.ID)
	assert.False(t, ok, "deleted URLs stop at once")
	require.ErrorIs(t, svc.DeleteFunctionURLConfig(ctx, "u", ""), kumo.ErrNotFound)
}

func TestFunctionURLConfigs_BadInput(t *testing.T) {
	t.Parallel()
	svc, _ := newService(t)
	ctx := t.Context()
	_, err := svc.CreateFunction(ctx, createInput("b", testZip(t, map[string]string{"bootstrap": "x"})))
	require.NoError(t, err)
	s := func(v string) *string { return &v }
	tests := []struct {
		name, fn, qualifier string
		in                  control.URLConfigInput
		kind                error
		msg                 string
	}{
		{"no auth type", "b", "", control.URLConfigInput{}, kumo.ErrInvalidParameter, "authType"},
		{"bad auth type", "b", "", control.URLConfigInput{AuthType: s("OPEN")}, kumo.ErrInvalidParameter, "authType"},
		{"bad invoke mode", "b", "", control.URLConfigInput{AuthType: s("NONE"), InvokeMode: s("STREAM")}, kumo.ErrInvalidParameter, "invokeMode"},
		{"version qualifier", "b", "1", control.URLConfigInput{AuthType: s("NONE")}, kumo.ErrInvalidParameter, "qualifier"},
		{"$LATEST qualifier", "b", "$LATEST", control.URLConfigInput{AuthType: s("NONE")}, kumo.ErrInvalidParameter, "qualifier"},
		{"version in name", "b:7", "", control.URLConfigInput{AuthType: s("NONE")}, kumo.ErrInvalidParameter, "qualifier"},
		{"missing alias", "b", "live", control.URLConfigInput{AuthType: s("NONE")}, kumo.ErrNotFound, ""},
		{"missing function", "zz", "", control.URLConfigInput{AuthType: s("NONE")}, kumo.ErrNotFound, ""},
		{"seven methods", "b", "", control.URLConfigInput{AuthType: s("NONE"), Cors: &kumo.Cors{AllowMethods: []string{"GET", "PUT", "HEAD", "POST", "PATCH", "DELETE", "*"}}}, kumo.ErrInvalidParameter, "allowMethods"},
		{"unknown method", "b", "", control.URLConfigInput{AuthType: s("NONE"), Cors: &kumo.Cors{AllowMethods: []string{"TRACE"}}}, kumo.ErrInvalidParameter, "TRACE"},
		{"max age", "b", "", control.URLConfigInput{AuthType: s("NONE"), Cors: &kumo.Cors{MaxAge: 86401}}, kumo.ErrInvalidParameter, "maxAge"},
		{"negative max age", "b", "", control.URLConfigInput{AuthType: s("NONE"), Cors: &kumo.Cors{MaxAge: -1}}, kumo.ErrInvalidParameter, "maxAge"},
		{"empty origin", "b", "", control.URLConfigInput{AuthType: s("NONE"), Cors: &kumo.Cors{AllowOrigins: []string{""}}}, kumo.ErrInvalidParameter, "allowOrigins"},
		{"header injection", "b", "", control.URLConfigInput{AuthType: s("NONE"), Cors: &kumo.Cors{ExposeHeaders: []string{"x\r\nSet-Cookie: a=1"}}}, kumo.ErrInvalidParameter, "exposeHeaders"},
		{"too many origins", "b", "", control.URLConfigInput{AuthType: s("NONE"), Cors: &kumo.Cors{AllowOrigins: make([]string, 101)}}, kumo.ErrInvalidParameter, "allowOrigins"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := svc.CreateFunctionURLConfig(ctx, tc.fn, tc.qualifier, tc.in)
			require.ErrorIs(t, err, tc.kind)
			assert.Contains(t, err.Error(), tc.msg)
		})
	}
	_, err = svc.GetFunctionURLConfig(ctx, "b", "")
	require.ErrorIs(t, err, kumo.ErrNotFound, "nothing was created")
}

func TestDeleteFunction_DropsURLsAndPolicies(t *testing.T) {
	t.Parallel()
	svc, _ := newService(t)
	ctx := t.Context()
	zip := testZip(t, map[string]string{"bootstrap": "x"})
	_, err := svc.CreateFunction(ctx, createInput("d", zip))
	require.NoError(t, err)
	none := kumo.URLAuthNone
	c, err := svc.CreateFunctionURLConfig(ctx, "d", "", control.URLConfigInput{AuthType: &none})
	require.NoError(t, err)
	_, err = svc.AddPermission(ctx, "d", "", publicURL("url"))
	require.NoError(t, err)

	require.NoError(t, svc.DeleteFunction(ctx, "d", ""))
	_, ok := svc.FunctionURL(c.ID)
	assert.False(t, ok)
	assert.False(t, svc.Authorize(anonymousURLCall("d")))

	// A new function of the same name inherits neither.
	_, err = svc.CreateFunction(ctx, createInput("d", zip))
	require.NoError(t, err)
	_, err = svc.GetFunctionURLConfig(ctx, "d", "")
	require.ErrorIs(t, err, kumo.ErrNotFound)
	_, _, err = svc.GetPolicy(ctx, "d", "")
	require.ErrorIs(t, err, kumo.ErrNotFound)
}

// Two services on one store stand for two hosts: one's writes reach the
// other's index through the watch.
func TestWatchAccess_OtherHost(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st, err := store.Open(t.Context(), store.Config{Dir: dir})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	imgs, err := image.Open(dir + "/images")
	require.NoError(t, err)
	a := control.New(st, imgs, scope)
	b := control.New(st, imgs, scope)
	ctx := t.Context()
	_, err = a.CreateFunction(ctx, createInput("w", testZip(t, map[string]string{"bootstrap": "x"})))
	require.NoError(t, err)
	none := kumo.URLAuthNone
	before, err := a.CreateFunctionURLConfig(ctx, "w", "", control.URLConfigInput{AuthType: &none})
	require.NoError(t, err)

	require.NoError(t, b.WatchAccess(ctx))
	_, ok := b.FunctionURL(before.ID)
	require.True(t, ok, "existing configs are loaded before WatchAccess returns")

	_, err = a.AddPermission(ctx, "w", "", publicURL("url"))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return b.Authorize(anonymousURLCall("w")) }, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, a.RemovePermission(ctx, "w", "", "url", ""))
	require.Eventually(t, func() bool { return !b.Authorize(anonymousURLCall("w")) }, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, a.DeleteFunctionURLConfig(ctx, "w", ""))
	require.Eventually(t, func() bool { _, ok := b.FunctionURL(before.ID); return !ok }, 10*time.Second, 10*time.Millisecond)
}

func TestFunctionURLConfigs_Alias(t *testing.T) {
	t.Parallel()
	svc, _ := newService(t)
	ctx := t.Context()
	_, err := svc.CreateFunction(ctx, createInput("al", testZip(t, map[string]string{"bootstrap": "x"})))
	require.NoError(t, err)
	v, err := svc.PublishVersion(ctx, "al", "", "", "")
	require.NoError(t, err)
	_, err = svc.CreateAlias(ctx, "al", "live", control.AliasInput{FunctionVersion: &v.Version})
	require.NoError(t, err)
	none := kumo.URLAuthNone

	c, err := svc.CreateFunctionURLConfig(ctx, "al", "live", control.URLConfigInput{AuthType: &none})
	require.NoError(t, err)
	assert.Equal(t, "live", c.Qualifier)
	// The alias and the function each have their own URL.
	plain, err := svc.CreateFunctionURLConfig(ctx, "al:live", "", control.URLConfigInput{AuthType: &none})
	require.ErrorIs(t, err, kumo.ErrConflict, "al:live is the same alias: %v", plain)
	plain, err = svc.CreateFunctionURLConfig(ctx, "al", "", control.URLConfigInput{AuthType: &none})
	require.NoError(t, err)
	assert.NotEqual(t, c.ID, plain.ID)

	list, _, err := svc.ListFunctionURLConfigs(ctx, "al", "", 0)
	require.NoError(t, err)
	require.Len(t, list, 2)
	assert.Empty(t, list[0].Qualifier, "the unqualified URL lists first")
	page, next, err := svc.ListFunctionURLConfigs(ctx, "al", "", 1)
	require.NoError(t, err)
	require.Len(t, page, 1)
	require.Equal(t, "live", next)
	page, next, err = svc.ListFunctionURLConfigs(ctx, "al", next, 1)
	require.NoError(t, err)
	require.Len(t, page, 1)
	assert.Equal(t, "live", page[0].Qualifier)
	assert.Empty(t, next)
	_, _, err = svc.ListFunctionURLConfigs(ctx, "al", "nosuch", 1)
	require.ErrorIs(t, err, kumo.ErrInvalidParameter)

	// A permission on the function does not open the alias's URL.
	_, err = svc.AddPermission(ctx, "al", "", publicURL("url"))
	require.NoError(t, err)
	aliasCall := anonymousURLCall("al")
	aliasCall.Qualifier = "live"
	assert.False(t, svc.Authorize(aliasCall))
	st, err := svc.AddPermission(ctx, "al", "live", publicURL("url"))
	require.NoError(t, err)
	assert.Contains(t, st, `"Resource":"`+fnARN+`al:live"`)
	assert.True(t, svc.Authorize(aliasCall))
}

package control_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kumo-dev/kumo/runtime/internal/control"
	"github.com/kumo-dev/kumo/runtime/kumo"
)

func TestKMSKeyArn(t *testing.T) {
	t.Parallel()
	svc, _ := newService(t)
	code := testZip(t, map[string]string{"bootstrap": "v1"})
	const good = "arn:aws:kms:local:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	for _, tc := range []struct {
		name, arn string
		ok        bool
	}{
		{"none", "", true},
		{"key", good, true},
		{"alias", "arn:aws:kms:us-east-1:123456789012:alias/x", true},
		{"other partition", "arn:aws-cn:kms:cn-north-1:123456789012:key/x", true},
		{"not an arn", "key/x", false},
		{"bad service", "arn:aws:KMS:local:0:key/x", false},
		{"space", "arn:aws:kms:local:0:key/a b", false},
		{"newline", "arn:aws:kms:local:0:key/a\nb", false},
		{"unicode", "arn:aws:kms:local:0:key/\u2028", false},
		{"invalid utf-8", "arn:aws:kms:local:0:key/\xff", false},
		{"too long", "arn:aws:kms:local:0:key/" + strings.Repeat("a", 4096), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			name := "kms-" + strings.ReplaceAll(tc.name, " ", "-")
			in := createInput(name, code)
			in.KMSKeyArn = tc.arn
			f, err := svc.CreateFunction(t.Context(), in)
			if !tc.ok {
				require.ErrorIs(t, err, kumo.ErrInvalidParameter)
				assert.NotContains(t, err.Error(), strings.Repeat("a", 100), "the message does not echo a huge value")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.arn, f.KMSKeyArn)
			got, err := svc.GetFunction(t.Context(), name, "")
			require.NoError(t, err)
			assert.Equal(t, tc.arn, got.KMSKeyArn, "stored")
		})
	}

	_, err := svc.CreateFunction(t.Context(), createInput("kms-upd", code))
	require.NoError(t, err)
	f, err := svc.UpdateFunctionConfiguration(t.Context(), "kms-upd", control.ConfigInput{KMSKeyArn: ptr(good)})
	require.NoError(t, err)
	assert.Equal(t, good, f.KMSKeyArn)
	f, err = svc.UpdateFunctionConfiguration(t.Context(), "kms-upd", control.ConfigInput{Timeout: ptr(9)})
	require.NoError(t, err)
	assert.Equal(t, good, f.KMSKeyArn, "unchanged when not given")
	_, err = svc.UpdateFunctionConfiguration(t.Context(), "kms-upd", control.ConfigInput{KMSKeyArn: ptr("nope")})
	require.ErrorIs(t, err, kumo.ErrInvalidParameter)
	f, err = svc.UpdateFunctionConfiguration(t.Context(), "kms-upd", control.ConfigInput{KMSKeyArn: ptr("")})
	require.NoError(t, err)
	assert.Empty(t, f.KMSKeyArn, "an empty value clears it")
}

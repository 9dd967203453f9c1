package kumo_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kumo-dev/kumo/runtime/kumo"
)

func TestParseFunctionName(t *testing.T) {
	t.Parallel()
	s := kumo.Scope{Region: "local", Account: "000000000000"}
	tests := []struct {
		in   string
		want kumo.FunctionRef
		ok   bool
	}{
		{"hello", kumo.FunctionRef{Name: "hello"}, true},
		{"hello:1", kumo.FunctionRef{Name: "hello", Qualifier: "1"}, true},
		{"hello:live", kumo.FunctionRef{Name: "hello", Qualifier: "live"}, true},
		{"hello:$LATEST", kumo.FunctionRef{Name: "hello", Qualifier: "$LATEST"}, true},
		{"000000000000:function:hello", kumo.FunctionRef{Name: "hello"}, true},
		{"000000000000:function:hello:2", kumo.FunctionRef{Name: "hello", Qualifier: "2"}, true},
		{"arn:aws:lambda:local:000000000000:function:hello", kumo.FunctionRef{Name: "hello"}, true},
		{"arn:aws:lambda:local:000000000000:function:hello:$LATEST", kumo.FunctionRef{Name: "hello", Qualifier: "$LATEST"}, true},
		{"", kumo.FunctionRef{}, false},
		{"bad name", kumo.FunctionRef{}, false},
		{strings.Repeat("a", 65), kumo.FunctionRef{}, false},
		{"hello:", kumo.FunctionRef{}, false},
		{"hello:1:extra", kumo.FunctionRef{}, false},
		{"hello:bad qualifier", kumo.FunctionRef{}, false},
		{"111111111111:function:hello", kumo.FunctionRef{}, false},
		{"arn:aws:lambda:us-east-1:000000000000:function:hello", kumo.FunctionRef{}, false},
		{"arn:aws:lambda:local:111111111111:function:hello", kumo.FunctionRef{}, false},
		{"arn:aws-cn:lambda:local:000000000000:function:hello", kumo.FunctionRef{}, false},
		{"arn:aws:s3:local:000000000000:function:hello", kumo.FunctionRef{}, false},
		{"arn:aws:lambda:local:000000000000:layer:hello", kumo.FunctionRef{}, false},
		{"../etc", kumo.FunctionRef{}, false},
		{"a/b", kumo.FunctionRef{}, false},
		{"hello\x00", kumo.FunctionRef{}, false},
		{strings.Repeat("x", 300), kumo.FunctionRef{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := s.ParseFunctionName(tc.in)
			if !tc.ok {
				require.Error(t, err)
				assert.True(t, errors.Is(err, kumo.ErrInvalidParameter), "want invalid parameter, got %v", err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
			// Formatting the parsed reference and parsing it again is stable.
			again, err := s.ParseFunctionName(s.QualifiedARN(got.Name, got.Qualifier))
			require.NoError(t, err)
			assert.Equal(t, got, again)
		})
	}
}

func TestLambdaTime(t *testing.T) {
	t.Parallel()
	s := kumo.Scope{Region: "local", Account: "000000000000"}
	assert.Equal(t, "arn:aws:lambda:local:000000000000:function:f:live", s.QualifiedARN("f", "live"))
}

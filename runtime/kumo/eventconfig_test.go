package kumo_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kumo-dev/kumo/runtime/kumo"
)

func TestParseDestination(t *testing.T) {
	t.Parallel()
	s := kumo.Scope{Region: "local", Account: "000000000000"}
	tests := []struct {
		arn  string
		want kumo.Destination
		ok   bool
	}{
		{"arn:aws:lambda:local:000000000000:function:dest", kumo.Destination{Kind: kumo.DestinationFunction, Function: kumo.FunctionRef{Name: "dest"}}, true},
		{"arn:aws:lambda:local:000000000000:function:dest:live", kumo.Destination{Kind: kumo.DestinationFunction, Function: kumo.FunctionRef{Name: "dest", Qualifier: "live"}}, true},
		{"arn:aws:kumo:local:000000000000:nats:orders.failed", kumo.Destination{Kind: kumo.DestinationNATS, Subject: "orders.failed"}, true},
		{"dest", kumo.Destination{}, false},
		{"arn:aws:lambda:us-east-1:000000000000:function:dest", kumo.Destination{}, false},
		{"arn:aws:sqs:local:000000000000:queue", kumo.Destination{}, false},
		{"arn:aws:kumo:local:111111111111:nats:x", kumo.Destination{}, false},
		{"arn:aws:kumo:local:000000000000:nats:", kumo.Destination{}, false},
		{"arn:aws:kumo:local:000000000000:nats:a.*", kumo.Destination{}, false},
		{"arn:aws:kumo:local:000000000000:nats:a.>", kumo.Destination{}, false},
		{"arn:aws:kumo:local:000000000000:nats:a..b", kumo.Destination{}, false},
		{"arn:aws:kumo:local:000000000000:nats:a b", kumo.Destination{}, false},
		{"arn:aws:kumo:local:000000000000:nats:kumo.async.f", kumo.Destination{}, false},
		{"arn:aws:kumo:local:000000000000:nats:kumo.logs.f", kumo.Destination{}, false},
		{"arn:aws:kumo:local:000000000000:nats:$JS.API.STREAM.DELETE.X", kumo.Destination{}, false},
		{"arn:aws:kumo:local:000000000000:nats:_INBOX.x", kumo.Destination{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.arn, func(t *testing.T) {
			t.Parallel()
			got, err := s.ParseDestination(tc.arn)
			if !tc.ok {
				require.ErrorIs(t, err, kumo.ErrInvalidParameter)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestEventInvokeConfigDefaults(t *testing.T) {
	t.Parallel()
	var none *kumo.EventInvokeConfig
	assert.Equal(t, 2, none.Retries())
	assert.Equal(t, 21600.0, none.MaxAge().Seconds())
	zero, age := 0, 60
	c := &kumo.EventInvokeConfig{MaximumRetryAttempts: &zero, MaximumEventAgeInSeconds: &age}
	assert.Equal(t, 0, c.Retries())
	assert.Equal(t, 60.0, c.MaxAge().Seconds())
}

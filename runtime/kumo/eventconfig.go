package kumo

import (
	"strings"
	"time"
)

// Asynchronous invocation limits and defaults, as Lambda documents them.
const (
	// MaxAsyncPayloadBytes is the largest event InvocationType Event accepts.
	MaxAsyncPayloadBytes = 1024 * 1024

	MinMaximumRetryAttempts     = 0
	MaxMaximumRetryAttempts     = 2
	DefaultMaximumRetryAttempts = 2

	MinMaximumEventAgeSeconds     = 60
	MaxMaximumEventAgeSeconds     = 21600
	DefaultMaximumEventAgeSeconds = 21600
)

// EventInvokeConfig is a function's asynchronous invocation configuration
// for one qualifier (Lambda's FunctionEventInvokeConfig). Unset members
// are nil or "", and the defaults above apply.
type EventInvokeConfig struct {
	// Qualifier is $LATEST, a version number or an alias name; an
	// unqualified request configures $LATEST, as in Lambda.
	Qualifier                string    `json:"qualifier"`
	MaximumRetryAttempts     *int      `json:"maximumRetryAttempts,omitempty"`
	MaximumEventAgeInSeconds *int      `json:"maximumEventAgeInSeconds,omitempty"`
	OnSuccess                string    `json:"onSuccess,omitempty"`
	OnFailure                string    `json:"onFailure,omitempty"`
	LastModified             time.Time `json:"lastModified"`
}

// Retries is the effective MaximumRetryAttempts.
func (c *EventInvokeConfig) Retries() int {
	if c == nil || c.MaximumRetryAttempts == nil {
		return DefaultMaximumRetryAttempts
	}
	return *c.MaximumRetryAttempts
}

// MaxAge is the effective MaximumEventAgeInSeconds.
func (c *EventInvokeConfig) MaxAge() time.Duration {
	if c == nil || c.MaximumEventAgeInSeconds == nil {
		return DefaultMaximumEventAgeSeconds * time.Second
	}
	return time.Duration(*c.MaximumEventAgeInSeconds) * time.Second
}

// Destination kinds.
const (
	// DestinationFunction is another function of this host, invoked
	// asynchronously with the record as its event.
	DestinationFunction = "function"
	// DestinationNATS is a NATS subject: arn:aws:kumo:REGION:ACCOUNT:nats:SUBJECT.
	DestinationNATS = "nats"
)

// Destination is a parsed destination or dead-letter ARN.
type Destination struct {
	Kind string
	// Function is set for DestinationFunction (Qualifier may be empty).
	Function FunctionRef
	// Subject is set for DestinationNATS.
	Subject string
}

// NATSDestinationARN is the ARN naming a NATS subject as a destination.
func (s Scope) NATSDestinationARN(subject string) string {
	return "arn:" + Partition + ":kumo:" + s.Region + ":" + s.Account + ":nats:" + subject
}

// ParseDestination accepts the destination ARNs a kumo host can deliver to:
// a function of this host (arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER])
// or a NATS subject (arn:aws:kumo:REGION:ACCOUNT:nats:SUBJECT). SQS, SNS,
// S3 and EventBridge ARNs name services a kumo host does not have.
func (s Scope) ParseDestination(arn string) (Destination, error) {
	bad := func() error {
		return InvalidParameter("The destination ARN %s is invalid. A kumo host delivers to a function (arn:aws:lambda:%s:%s:function:NAME) or a NATS subject (%s)", arn, s.Region, s.Account, s.NATSDestinationARN("SUBJECT"))
	}
	if len(arn) > 350 {
		return Destination{}, bad()
	}
	prefix := "arn:" + Partition + ":kumo:" + s.Region + ":" + s.Account + ":nats:"
	if subject, ok := strings.CutPrefix(arn, prefix); ok {
		if !validSubject(subject) {
			return Destination{}, bad()
		}
		return Destination{Kind: DestinationNATS, Subject: subject}, nil
	}
	if !strings.HasPrefix(arn, "arn:"+Partition+":lambda:") {
		return Destination{}, bad()
	}
	ref, err := s.ParseFunctionName(arn)
	if err != nil {
		return Destination{}, bad()
	}
	return Destination{Kind: DestinationFunction, Function: ref}, nil
}

// validSubject allows a literal subject outside the namespaces kumo and
// NATS use themselves: a destination must never be able to inject events
// into the async queue or write into a function's logs.
func validSubject(subject string) bool {
	if subject == "" || len(subject) > 255 {
		return false
	}
	for _, tok := range strings.Split(subject, ".") {
		if tok == "" || tok == "*" || tok == ">" {
			return false
		}
		for _, r := range tok {
			if r <= ' ' || r == 0x7f || r == '*' || r == '>' {
				return false
			}
		}
	}
	for _, reserved := range []string{"kumo.", "$", "_INBOX.", "_R_."} {
		if strings.HasPrefix(subject, reserved) {
			return false
		}
	}
	return subject != "kumo"
}

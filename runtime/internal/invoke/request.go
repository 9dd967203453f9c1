package invoke

// Invocation types, as Lambda names them.
const (
	TypeRequestResponse = "RequestResponse"
	TypeEvent           = "Event"
	TypeDryRun          = "DryRun"
)

// Request is one invocation as the API received it.
type Request struct {
	FunctionName   string
	Qualifier      string
	InvocationType string
	Payload        []byte
	// ClientContext is the decoded JSON of X-Amz-Client-Context.
	ClientContext string
	// Tail asks for the last 4 KB of the invocation's log.
	Tail     bool
	TenantID string
	// RequestID is set by the async workers so that every attempt of an
	// event runs under the event's id; "" means a fresh one.
	RequestID string
}

// Response is what the caller gets back.
type Response struct {
	RequestID       string
	Payload         []byte
	FunctionError   string // "" or "Unhandled"
	ExecutedVersion string
	LogTail         []byte // raw text, at most kumo.LogTailBytes; nil unless asked for
	StatusCode      int
}

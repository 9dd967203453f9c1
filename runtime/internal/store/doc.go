// Package store owns kumo's durable shared state: the NATS JetStream
// server (embedded, or an external cluster), the KV bucket holding every
// function's desired state and the bounded stream holding function logs.
//
// Revisions returned by the function methods are NATS KV revisions; they
// give optimistic concurrency, so two writers racing on one function cannot
// both win. Function names are validated before they become KV keys or
// subject tokens, so a name can never address another function's key.
package store

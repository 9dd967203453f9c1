package async

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kumo-dev/kumo/runtime/internal/invoke"
	"github.com/kumo-dev/kumo/runtime/kumo"
)

// Record is Lambda's invocation record, the event a destination receives.
type Record struct {
	Version         string           `json:"version"`
	Timestamp       string           `json:"timestamp"`
	RequestContext  RequestContext   `json:"requestContext"`
	RequestPayload  json.RawMessage  `json:"requestPayload"`
	ResponseContext *ResponseContext `json:"responseContext,omitempty"`
	ResponsePayload json.RawMessage  `json:"responsePayload,omitempty"`
}

// RequestContext says which event the record is about and how it ended.
type RequestContext struct {
	RequestID              string `json:"requestId"`
	FunctionArn            string `json:"functionArn"`
	Condition              string `json:"condition"`
	ApproximateInvokeCount int    `json:"approximateInvokeCount"`
}

// ResponseContext describes the last invocation's response.
type ResponseContext struct {
	StatusCode      int    `json:"statusCode"`
	ExecutedVersion string `json:"executedVersion"`
	FunctionError   string `json:"functionError,omitempty"`
}

// Headers on records and dead letters published to NATS. The dead-letter
// ones mirror the message attributes Lambda puts on an SQS dead letter.
const (
	HeaderRequestID    = "Kumo-Request-Id"
	HeaderCondition    = "Kumo-Condition"
	HeaderFunctionArn  = "Kumo-Function-Arn"
	HeaderErrorCode    = "Kumo-Error-Code"
	HeaderErrorMessage = "Kumo-Error-Message"
)

// recordNamespace derives the ids of records and dead letters from the
// event's id, so that delivering them again (after a crash) is recognised
// as a duplicate by JetStream.
var recordNamespace = uuid.MustParse("5b0e3c1e-8a4f-4d36-9b43-6c1f0f2a7a10")

func derivedID(requestID, what, target string) string {
	return uuid.NewSHA1(recordNamespace, []byte(requestID+"\x00"+what+"\x00"+target)).String()
}

// finish delivers the outcome of an event: the record to the OnSuccess or
// OnFailure destination and, on failure, the event to the function's
// dead-letter target. A failure with neither is recorded in the function's
// log and the server log. An error means a delivery may succeed later.
func (w *Worker) finish(ctx context.Context, log *slog.Logger, ev envelope, cfg *kumo.EventInvokeConfig, fn *kumo.Function, cond string, invokes int, resp *invoke.Response, cause string) error {
	var dest, dlq string
	if cond == CondSuccess {
		if cfg != nil {
			dest = cfg.OnSuccess
		}
	} else {
		if cfg != nil {
			dest = cfg.OnFailure
		}
		if fn != nil {
			dlq = fn.DeadLetterTarget
		}
	}
	var errs []error
	var notes []string
	if dest != "" {
		rec := w.record(ev, cond, invokes, resp)
		err := w.deliver(ctx, dest, rec, derivedID(ev.RequestID, cond, dest), nats.Header{
			HeaderRequestID:   {ev.RequestID},
			HeaderCondition:   {cond},
			HeaderFunctionArn: {w.scope.QualifiedARN(ev.Function, ev.qualifier())},
		})
		notes = append(notes, outcomeNote("record", dest, err))
		if err != nil && !permanent(err) {
			errs = append(errs, err)
		}
	}
	if dlq != "" {
		code, msg := cond, "Event failed: "+cond
		if resp != nil && resp.FunctionError != "" {
			code, msg = "200", "Function returned an error: "+string(truncate(resp.Payload, 256))
		}
		if cause != "" {
			msg = cause
		}
		payload := ev.Payload
		if len(payload) == 0 {
			payload = []byte("{}")
		}
		err := w.deliver(ctx, dlq, payload, derivedID(ev.RequestID, "dlq", dlq), nats.Header{
			HeaderRequestID:    {ev.RequestID},
			HeaderCondition:    {cond},
			HeaderErrorCode:    {code},
			HeaderErrorMessage: {msg},
		})
		notes = append(notes, outcomeNote("event", dlq, err))
		if err != nil && !permanent(err) {
			errs = append(errs, err)
		}
	}
	if cond == CondSuccess {
		// A success is never run again for the sake of its record: a
		// record that could not be delivered is noted in the logs instead.
		switch {
		case len(errs) > 0:
			log.Warn("event succeeded; its record was not delivered", "invokes", invokes, "delivery", notes[0])
			line := fmt.Sprintf("KUMO ASYNC RequestId: %s Condition: %s ApproximateInvokeCount: %d %s\n", ev.RequestID, cond, invokes, notes[0])
			if err := w.store.AppendLog(ctx, ev.Function, ev.RequestID, []byte(line)); err != nil {
				log.Warn("record undelivered success record in the function's log", "error", err)
			}
		case dest != "":
			log.Info("event succeeded", "invokes", invokes, "delivery", notes[0])
		default:
			log.Debug("event succeeded", "invokes", invokes)
		}
		return nil
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	line := fmt.Sprintf("KUMO ASYNC RequestId: %s Condition: %s ApproximateInvokeCount: %d", ev.RequestID, cond, invokes)
	if cause != "" {
		line += " Error: " + strconv.Quote(cause)
	}
	if len(notes) == 0 {
		line += " Delivered: nowhere (no OnFailure destination and no DeadLetterConfig); the event is dropped"
		log.Warn("event dropped: no OnFailure destination or dead-letter target", "condition", cond, "invokes", invokes, "cause", cause)
	} else {
		for _, n := range notes {
			line += " " + n
		}
		log.Warn("event failed", "condition", cond, "invokes", invokes, "cause", cause, "delivery", notes)
	}
	if err := w.store.AppendLog(ctx, ev.Function, ev.RequestID, []byte(line+"\n")); err != nil {
		log.Warn("record failed event in the function's log", "error", err)
	}
	return nil
}

func outcomeNote(what, target string, err error) string {
	if err != nil {
		return fmt.Sprintf("NotDelivered: %s to %s (%v)", what, target, err)
	}
	return fmt.Sprintf("Delivered: %s to %s", what, target)
}

func (w *Worker) record(ev envelope, cond string, invokes int, resp *invoke.Response) []byte {
	r := Record{
		Version:   "1.0",
		Timestamp: w.now().UTC().Format("2006-01-02T15:04:05.000Z"),
		RequestContext: RequestContext{
			RequestID:              ev.RequestID,
			FunctionArn:            w.scope.QualifiedARN(ev.Function, ev.qualifier()),
			Condition:              cond,
			ApproximateInvokeCount: invokes,
		},
		RequestPayload: rawJSON(ev.Payload),
	}
	if resp != nil {
		r.ResponseContext = &ResponseContext{StatusCode: 200, ExecutedVersion: resp.ExecutedVersion, FunctionError: resp.FunctionError}
		if r.ResponseContext.ExecutedVersion == "" {
			r.ResponseContext.ExecutedVersion = kumo.VersionLatest
		}
		r.ResponsePayload = rawJSON(resp.Payload)
	}
	b, _ := json.Marshal(r)
	// A record is itself an async event for a function destination, so it
	// must fit the async limit: drop the response, then the request.
	if len(b) > kumo.MaxAsyncPayloadBytes {
		r.ResponsePayload = nil
		b, _ = json.Marshal(r)
	}
	if len(b) > kumo.MaxAsyncPayloadBytes {
		r.RequestPayload = json.RawMessage(`null`)
		b, _ = json.Marshal(r)
	}
	return b
}

// rawJSON embeds b as JSON when it is JSON, else as a string.
func rawJSON(b []byte) json.RawMessage {
	if len(b) == 0 {
		return json.RawMessage(`{}`)
	}
	if json.Valid(b) {
		return json.RawMessage(b)
	}
	s, _ := json.Marshal(string(b))
	return s
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// deliver sends payload to a destination ARN. A function destination gets
// it as an asynchronous invocation (under id, so a repeat is a duplicate).
// A NATS subject gets it through JetStream when a stream captures the
// subject (acknowledged, deduplicated by Nats-Msg-Id) and as a core NATS
// message otherwise (delivered to whoever subscribes at that moment).
func (w *Worker) deliver(ctx context.Context, arn string, payload []byte, id string, h nats.Header) error {
	dest, err := w.scope.ParseDestination(arn)
	if err != nil {
		return err
	}
	switch dest.Kind {
	case kumo.DestinationFunction:
		_, err := w.inv.Invoke(ctx, invoke.Request{
			FunctionName:   w.scope.QualifiedARN(dest.Function.Name, dest.Function.Qualifier),
			InvocationType: invoke.TypeEvent,
			Payload:        payload,
			RequestID:      id,
		})
		if err != nil {
			return fmt.Errorf("invoke destination %s: %w", arn, err)
		}
		return nil
	case kumo.DestinationNATS:
		_, err := w.publish(ctx, dest.Subject, payload, id, h)
		return err
	}
	return kumo.InvalidParameter("unknown destination kind %q", dest.Kind)
}

// publish reports whether JetStream stored the message.
func (w *Worker) publish(ctx context.Context, subject string, payload []byte, id string, h nats.Header) (bool, error) {
	msg := &nats.Msg{Subject: subject, Data: payload, Header: nats.Header{}}
	for k, v := range h {
		msg.Header[k] = v
	}
	msg.Header.Set("Content-Type", "application/json")
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	// Ask first rather than try: a JetStream publish to a subject no
	// stream captures would reach core subscribers and then time out
	// waiting for an acknowledgement, and retrying it would deliver twice.
	_, err := w.q.js.StreamNameBySubject(pctx, subject)
	switch {
	case err == nil:
		if _, err := w.q.js.PublishMsg(pctx, msg, jetstream.WithMsgID(id)); err != nil {
			return false, fmt.Errorf("publish to %s: %w", subject, err)
		}
		return true, nil
	case !errors.Is(err, jetstream.ErrStreamNotFound):
		return false, fmt.Errorf("look up the stream of %s: %w", subject, err)
	}
	nc := w.q.js.Conn()
	if err := nc.PublishMsg(msg); err != nil {
		return false, fmt.Errorf("publish to %s: %w", subject, err)
	}
	if err := nc.FlushWithContext(pctx); err != nil {
		return false, fmt.Errorf("publish to %s: %w", subject, err)
	}
	return false, nil
}

package async

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kumo-dev/kumo/runtime/kumo"
)

// maxDeliveriesAdvisory is the part of JetStream's
// io.nats.jetstream.advisory.v1.max_deliver the mover needs.
type maxDeliveriesAdvisory struct {
	Stream     string `json:"stream"`
	Consumer   string `json:"consumer"`
	StreamSeq  uint64 `json:"stream_seq"`
	Deliveries uint64 `json:"deliveries"`
}

// moveLoop finishes events JetStream stopped delivering because they hit
// MaxDeliver: it reads each from the stream by sequence, settles it as
// exhausted (or expired) through the usual failure path, and deletes it.
// The advisories are in a durable stream, so one that fires while this
// host is down is handled after it restarts.
func (w *Worker) moveLoop(ctx context.Context, mover jetstream.Consumer) {
	for ctx.Err() == nil {
		fctx, cancel := context.WithTimeout(ctx, fetchWait)
		batch, err := mover.Fetch(1, jetstream.FetchContext(fctx))
		if err != nil {
			cancel()
			if ctx.Err() == nil {
				w.log.Warn("fetch max-deliveries advisories", "error", err)
				sleep(ctx, storeRetry)
			}
			continue
		}
		for msg := range batch.Messages() {
			if err := w.move(w.runCtx, msg.Data()); err != nil {
				w.log.Warn("move max-delivered event; retrying", "error", err)
				_ = msg.NakWithDelay(5 * time.Second)
				continue
			}
			_ = msg.Ack()
		}
		cancel()
	}
}

func (w *Worker) move(ctx context.Context, advisory []byte) error {
	var a maxDeliveriesAdvisory
	if err := json.Unmarshal(advisory, &a); err != nil || a.StreamSeq == 0 {
		w.log.Error("ignore undecodable max-deliveries advisory", "error", err, "advisory", string(truncate(advisory, 512)))
		return nil
	}
	raw, err := w.q.stream.GetMsg(ctx, a.StreamSeq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil // finished after all, or moved already
	}
	if err != nil {
		return err
	}
	var ev envelope
	if err := json.Unmarshal(raw.Data, &ev); err != nil || ev.RequestID == "" || !kumo.ValidFunctionName(ev.Function) {
		w.log.Error("delete undecodable max-delivered event", "seq", a.StreamSeq, "error", err)
		return w.deleteMsg(ctx, a.StreamSeq)
	}
	log := w.log.With("function", ev.Function, "request_id", ev.RequestID, "seq", a.StreamSeq, "deliveries", a.Deliveries)
	log.Warn("event reached the delivery limit")
	cfg, err := w.config(ctx, ev)
	if err != nil {
		return err
	}
	fn, _, err := w.store.GetFunction(ctx, ev.Function)
	if err != nil && !errors.Is(err, kumo.ErrNotFound) {
		return err
	}
	if err != nil {
		fn = nil
	}
	attempts, err := w.q.attemptCount(ctx, ev.RequestID)
	if err != nil {
		return err
	}
	cond := CondRetriesExhausted
	if w.now().Sub(ev.EnqueuedAt) >= cfg.MaxAge() {
		cond = CondEventAgeExceeded
	}
	cause := "the event was delivered to workers " + itoa(a.Deliveries) + " times without finishing"
	if err := w.finish(ctx, log, ev, cfg, fn, cond, attempts, nil, cause); err != nil {
		return err
	}
	if err := w.deleteMsg(ctx, a.StreamSeq); err != nil {
		return err
	}
	w.q.forgetAttempts(ctx, ev.RequestID)
	return nil
}

func (w *Worker) deleteMsg(ctx context.Context, seq uint64) error {
	if err := w.q.stream.DeleteMsg(ctx, seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		return err
	}
	return nil
}

func itoa(n uint64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kumo-dev/kumo/runtime/kumo"
)

// The audit stream holds one message per control-plane call. It is
// bounded both ways, oldest first out, so a flood of calls (or of failed
// logins) costs a fixed amount of disk.
const (
	auditStream  = "KUMO_AUDIT"
	auditSubject = "kumo.audit"

	defaultAuditMaxBytes = 64 << 20
	defaultAuditMaxMsgs  = 200000
	// MaxAuditRecordSize bounds one encoded audit record.
	MaxAuditRecordSize = 16 << 10
)

// AuditRecord is one stored audit record, opaque to the store.
type AuditRecord struct {
	Seq  uint64
	Time time.Time
	Data []byte
}

// setupAudit creates or updates the audit stream with cfg's bounds.
func (s *Store) setupAudit(ctx context.Context, cfg Config) error {
	maxBytes, maxMsgs := cfg.AuditMaxBytes, cfg.AuditMaxMsgs
	if maxBytes < 0 || maxMsgs < 0 {
		return errors.New("store config: audit bounds must not be negative")
	}
	if maxBytes == 0 {
		maxBytes = defaultAuditMaxBytes
	}
	if maxMsgs == 0 {
		maxMsgs = defaultAuditMaxMsgs
	}
	_, err := s.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        auditStream,
		Description: "kumo control-plane audit log, one message per call",
		Subjects:    []string{auditSubject},
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxBytes:    maxBytes,
		MaxMsgs:     maxMsgs,
		MaxMsgSize:  MaxAuditRecordSize,
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
	})
	if err != nil {
		return fmt.Errorf("create stream %s: %w", auditStream, err)
	}
	return nil
}

// AppendAudit stores one encoded audit record and returns its sequence.
func (s *Store) AppendAudit(ctx context.Context, data []byte) (uint64, error) {
	if len(data) == 0 || len(data) > MaxAuditRecordSize {
		return 0, kumo.InvalidParameter("audit record of %d bytes; want 1..%d", len(data), MaxAuditRecordSize)
	}
	ack, err := s.js.PublishMsg(ctx, &nats.Msg{Subject: auditSubject, Data: data})
	if err != nil {
		return 0, fmt.Errorf("append audit record: %w", err)
	}
	return ack.Sequence, nil
}

// ReadAudit returns up to limit audit records with a sequence above
// afterSeq, oldest first. limit <= 0 means 1000; it is capped at 10000.
func (s *Store) ReadAudit(ctx context.Context, afterSeq uint64, limit int) ([]AuditRecord, error) {
	if limit <= 0 {
		limit = defaultReadLimit
	}
	limit = min(limit, maxReadLimit)
	st, err := s.js.Stream(ctx, auditStream)
	if err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	var recs []AuditRecord
	for seq := afterSeq; len(recs) < limit && seq < math.MaxUint64; {
		// With a subject, GetMsg returns the first message at or after
		// the sequence, so records discarded by the bounds are skipped.
		m, err := st.GetMsg(ctx, seq+1, jetstream.WithGetMsgSubject(auditSubject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read audit log after %d: %w", seq, err)
		}
		recs = append(recs, AuditRecord{Seq: m.Sequence, Time: m.Time, Data: m.Data})
		seq = m.Sequence
	}
	return recs, nil
}

// FollowAudit sends the audit records after afterSeq, then new ones as
// they are appended. The channel is closed when ctx is done or the store
// closes.
func (s *Store) FollowAudit(ctx context.Context, afterSeq uint64) (<-chan AuditRecord, error) {
	cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy}
	if afterSeq > 0 {
		if afterSeq == math.MaxUint64 {
			return nil, kumo.InvalidParameter("sequence %d is out of range", afterSeq)
		}
		cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cfg.OptStartSeq = afterSeq + 1
	}
	cons, err := s.js.OrderedConsumer(ctx, auditStream, cfg)
	if err != nil {
		return nil, fmt.Errorf("follow audit log: %w", err)
	}
	it, err := cons.Messages()
	if err != nil {
		return nil, fmt.Errorf("follow audit log: %w", err)
	}
	out := make(chan AuditRecord)
	var (
		mu       sync.Mutex // held while sending, so out is never closed mid-send
		isClosed bool
		finished = make(chan struct{})
	)
	closeOut := func() {
		mu.Lock()
		defer mu.Unlock()
		if !isClosed {
			isClosed = true
			close(out)
		}
	}
	// Next has no context, so stopping the iterator is what unblocks it.
	go func() {
		select {
		case <-ctx.Done():
		case <-s.done:
		case <-finished:
		}
		it.Stop()
		closeOut()
	}()
	go func() {
		defer close(finished)
		for {
			msg, err := it.Next()
			if err != nil {
				if !errors.Is(err, jetstream.ErrMsgIteratorClosed) {
					s.log.Warn("audit follower stopped", "error", err)
				}
				return
			}
			rec := AuditRecord{Data: msg.Data()}
			if md, err := msg.Metadata(); err == nil {
				rec.Seq = md.Sequence.Stream
				rec.Time = md.Timestamp
			}
			mu.Lock()
			stopped := isClosed
			if !stopped {
				select {
				case out <- rec:
				case <-ctx.Done():
					stopped = true
				case <-s.done:
					stopped = true
				}
			}
			mu.Unlock()
			if stopped {
				return
			}
		}
	}()
	return out, nil
}

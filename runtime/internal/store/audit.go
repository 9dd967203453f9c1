package store

import (
	"context"
	"errors"
	"fmt"
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
	st, err := s.js.Stream(ctx, auditStream)
	if err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	msgs, err := readSubject(ctx, st, auditSubject, afterSeq, limit, "audit log")
	if err != nil {
		return nil, err
	}
	recs := make([]AuditRecord, 0, len(msgs))
	for _, m := range msgs {
		recs = append(recs, AuditRecord{Seq: m.Sequence, Time: m.Time, Data: m.Data})
	}
	return recs, nil
}

// FollowAudit sends the audit records after afterSeq, then new ones as
// they are appended. The channel is closed when ctx is done or the store
// closes.
func (s *Store) FollowAudit(ctx context.Context, afterSeq uint64) (<-chan AuditRecord, error) {
	return followStream(ctx, s, auditStream, "", afterSeq, "audit log", func(msg jetstream.Msg) AuditRecord {
		rec := AuditRecord{Data: msg.Data()}
		if md, err := msg.Metadata(); err == nil {
			rec.Seq = md.Sequence.Stream
			rec.Time = md.Timestamp
		}
		return rec
	})
}

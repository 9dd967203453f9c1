package store

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kumo-dev/kumo/runtime/kumo"
)

const (
	// maxLogChunk keeps every log message, headers included, within about
	// 1 MiB, well under the 8 MiB payload limit.
	maxLogChunk   = 1<<20 - 4<<10
	maxLogMsgSize = 1 << 20

	// headerRequestID carries the invocation a log chunk belongs to.
	headerRequestID = "Kumo-Request-Id"
	maxRequestIDLen = 128

	defaultReadLimit = 1000
	maxReadLimit     = 10000
)

// LogRecord is one stored chunk of a function's log text.
type LogRecord struct {
	Seq       uint64
	Time      time.Time
	Function  string
	RequestID string
	// Data is a chunk of log text, split at line ends where possible.
	Data []byte
}

func logSubject(function string) string { return logSubjectPre + function }

// checkRequestID rejects IDs that could break a NATS header line.
func checkRequestID(id string) error {
	if len(id) > maxRequestIDLen {
		return kumo.InvalidParameter("request id longer than %d bytes", maxRequestIDLen)
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return kumo.InvalidParameter("request id %q contains a byte outside printable ASCII", id)
		}
	}
	return nil
}

// AppendLog stores data as one or more records of function's log, each at
// most about 1 MiB. Empty data stores nothing.
func (s *Store) AppendLog(ctx context.Context, function, requestID string, data []byte) error {
	if err := checkName(function); err != nil {
		return err
	}
	if err := checkRequestID(requestID); err != nil {
		return err
	}
	for len(data) > 0 {
		n := chunkLen(data, maxLogChunk)
		msg := &nats.Msg{Subject: logSubject(function), Data: data[:n], Header: nats.Header{}}
		if requestID != "" {
			msg.Header.Set(headerRequestID, requestID)
		}
		if _, err := s.js.PublishMsg(ctx, msg); err != nil {
			return fmt.Errorf("append log of %q: %w", function, err)
		}
		data = data[n:]
	}
	return nil
}

// chunkLen is how much of data goes into the next chunk: everything if it
// fits, else up to the last newline in the second half of the window (so
// lines stay whole), else exactly max bytes.
func chunkLen(data []byte, max int) int {
	if len(data) <= max {
		return len(data)
	}
	if i := bytes.LastIndexByte(data[:max], '\n'); i >= max/2 {
		return i + 1
	}
	return max
}

// ReadLogs returns up to limit records of function's log with a sequence
// above afterSeq, oldest first. limit <= 0 means 1000; it is capped at
// 10000. Page by passing the last record's Seq as the next afterSeq.
func (s *Store) ReadLogs(ctx context.Context, function string, afterSeq uint64, limit int) ([]LogRecord, error) {
	if err := checkName(function); err != nil {
		return nil, err
	}
	msgs, err := readSubject(ctx, s.logs, logSubject(function), afterSeq, limit, fmt.Sprintf("logs of %q", function))
	if err != nil {
		return nil, err
	}
	recs := make([]LogRecord, 0, len(msgs))
	for _, m := range msgs {
		recs = append(recs, LogRecord{
			Seq:       m.Sequence,
			Time:      m.Time,
			Function:  function,
			RequestID: m.Header.Get(headerRequestID),
			Data:      m.Data,
		})
	}
	return recs, nil
}

// FollowLogs sends the records of function's log after afterSeq, then new
// ones as they are appended. The channel is closed when ctx is done or the
// store closes.
func (s *Store) FollowLogs(ctx context.Context, function string, afterSeq uint64) (<-chan LogRecord, error) {
	if err := checkName(function); err != nil {
		return nil, err
	}
	return followStream(ctx, s, logStream, logSubject(function), afterSeq, fmt.Sprintf("logs of %q", function), func(msg jetstream.Msg) LogRecord {
		rec := LogRecord{
			Function:  strings.TrimPrefix(msg.Subject(), logSubjectPre),
			RequestID: msg.Headers().Get(headerRequestID),
			Data:      msg.Data(),
		}
		if md, err := msg.Metadata(); err == nil {
			rec.Seq = md.Sequence.Stream
			rec.Time = md.Timestamp
		}
		return rec
	})
}

// PurgeLogs removes every record of function's log.
func (s *Store) PurgeLogs(ctx context.Context, function string) error {
	if err := checkName(function); err != nil {
		return err
	}
	if err := s.logs.Purge(ctx, jetstream.WithPurgeSubject(logSubject(function))); err != nil {
		return fmt.Errorf("purge logs of %q: %w", function, err)
	}
	return nil
}

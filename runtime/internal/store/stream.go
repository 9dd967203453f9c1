package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kumo-dev/kumo/runtime/kumo"
)

// readSubject returns up to limit messages of one subject of st with a
// sequence above afterSeq, oldest first. limit <= 0 means 1000; it is
// capped at 10000. what names the log in errors.
func readSubject(ctx context.Context, st jetstream.Stream, subject string, afterSeq uint64, limit int, what string) ([]*jetstream.RawStreamMsg, error) {
	if limit <= 0 {
		limit = defaultReadLimit
	}
	limit = min(limit, maxReadLimit)
	var msgs []*jetstream.RawStreamMsg
	for seq := afterSeq; len(msgs) < limit && seq < math.MaxUint64; {
		// With a subject, GetMsg returns the first message at or after
		// the sequence, so records discarded by the bounds are skipped.
		m, err := st.GetMsg(ctx, seq+1, jetstream.WithGetMsgSubject(subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read %s after %d: %w", what, seq, err)
		}
		msgs = append(msgs, m)
		seq = m.Sequence
	}
	return msgs, nil
}

// followStream sends the messages of stream (optionally one subject) after
// afterSeq, converted by convert, then new ones as they are appended. The
// channel is closed when ctx is done or the store closes. what names the
// log in errors.
func followStream[T any](ctx context.Context, s *Store, stream, subject string, afterSeq uint64, what string, convert func(jetstream.Msg) T) (<-chan T, error) {
	cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy}
	if subject != "" {
		cfg.FilterSubjects = []string{subject}
	}
	if afterSeq > 0 {
		if afterSeq == math.MaxUint64 {
			return nil, kumo.InvalidParameter("sequence %d is out of range", afterSeq)
		}
		cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cfg.OptStartSeq = afterSeq + 1
	}
	cons, err := s.js.OrderedConsumer(ctx, stream, cfg)
	if err != nil {
		return nil, fmt.Errorf("follow %s: %w", what, err)
	}
	it, err := cons.Messages()
	if err != nil {
		return nil, fmt.Errorf("follow %s: %w", what, err)
	}

	out := make(chan T)
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
	// out is closed here rather than by the reader, so the channel closes
	// on cancellation even if the iterator were to miss the stop.
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
					s.log.Warn("follower stopped", "log", what, "error", err)
				}
				return
			}
			rec := convert(msg)
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

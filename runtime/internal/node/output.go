package node

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

// output captures a sandbox's stdout and stderr through one pipe, so lines
// keep the order the function wrote them in. The daemon keeps the write end
// open: writing a marker into it after the function answered is how we know
// every byte the function wrote before answering has been read (a pipe is
// FIFO), without sleeping and guessing.
type output struct {
	r, w *os.File

	mu      sync.Mutex
	sink    *logBuffer
	carry   []byte
	markers map[uint64]chan struct{}
	nextID  uint64
	closed  bool
}

const markerPrefix = "\x00kumo-flush:"

func newOutput() (*output, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("create output pipe: %w", err)
	}
	o := &output{r: r, w: w, markers: map[uint64]chan struct{}{}}
	go o.read()
	return o, nil
}

// setSink directs output to b (nil discards).
func (o *output) setSink(b *logBuffer) {
	o.mu.Lock()
	o.sink = b
	o.mu.Unlock()
}

func (o *output) read() {
	buf := make([]byte, 64*1024)
	for {
		n, err := o.r.Read(buf)
		if n > 0 {
			o.consume(buf[:n])
		}
		if err != nil {
			return
		}
	}
}

// consume splits data at flush markers; a marker may straddle two reads,
// so a possible partial marker at the end is carried over.
func (o *output) consume(data []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.carry) > 0 {
		data = append(o.carry, data...)
		o.carry = nil
	}
	for len(data) > 0 {
		i := bytes.Index(data, []byte(markerPrefix))
		if i < 0 {
			keep := partialPrefix(data)
			o.write(data[:len(data)-keep])
			if keep > 0 {
				o.carry = append([]byte(nil), data[len(data)-keep:]...)
			}
			return
		}
		o.write(data[:i])
		rest := data[i+len(markerPrefix):]
		end := bytes.IndexByte(rest, 0)
		if end < 0 {
			o.carry = append([]byte(nil), data[i:]...)
			return
		}
		if id, err := strconv.ParseUint(string(rest[:end]), 10, 64); err == nil {
			if ch, ok := o.markers[id]; ok {
				close(ch)
				delete(o.markers, id)
			}
		}
		data = rest[end+1:]
	}
}

// partialPrefix is how many trailing bytes of data could begin a marker.
func partialPrefix(data []byte) int {
	for k := min(len(markerPrefix)-1, len(data)); k > 0; k-- {
		if bytes.HasSuffix(data, []byte(markerPrefix[:k])) {
			return k
		}
	}
	return 0
}

func (o *output) write(p []byte) {
	if len(p) > 0 && o.sink != nil {
		o.sink.Write(p)
	}
}

// flush waits until everything written to the pipe so far has reached the
// sink, or until timeout (a wedged reader must not hang an invocation).
func (o *output) flush(timeout time.Duration) {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return
	}
	o.nextID++
	id := o.nextID
	ch := make(chan struct{})
	o.markers[id] = ch
	o.mu.Unlock()
	if _, err := fmt.Fprintf(o.w, "%s%d\x00", markerPrefix, id); err != nil {
		return
	}
	select {
	case <-ch:
	case <-time.After(timeout):
	}
}

func (o *output) close() {
	o.mu.Lock()
	o.closed = true
	o.mu.Unlock()
	_ = o.w.Close()
	_ = o.r.Close()
}

// logBuffer keeps a bounded record of one invocation's output: the first
// headLimit bytes and the last tailLimit bytes, counting what was dropped in
// between, so a function printing megabytes costs the host a fixed amount.
type logBuffer struct {
	mu        sync.Mutex
	head      []byte
	tail      []byte
	dropped   int64
	headLimit int
	tailLimit int
}

func newLogBuffer(headLimit, tailLimit int) *logBuffer {
	return &logBuffer{headLimit: headLimit, tailLimit: tailLimit}
}

func (b *logBuffer) Write(p []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.headLimit - len(b.head); room > 0 && b.dropped == 0 && len(b.tail) == 0 {
		n := min(room, len(p))
		b.head = append(b.head, p[:n]...)
		p = p[n:]
	}
	if len(p) == 0 {
		return
	}
	b.tail = append(b.tail, p...)
	if over := len(b.tail) - b.tailLimit; over > 0 {
		b.dropped += int64(over)
		b.tail = append(b.tail[:0], b.tail[over:]...)
	}
}

// Bytes returns the captured text, marking where output was dropped.
func (b *logBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]byte, 0, len(b.head)+len(b.tail)+64)
	out = append(out, b.head...)
	if b.dropped > 0 {
		if len(out) > 0 && out[len(out)-1] != '\n' {
			out = append(out, '\n')
		}
		out = fmt.Appendf(out, "[kumo: %d bytes of log output dropped]\n", b.dropped)
	}
	out = append(out, b.tail...)
	return out
}

package node

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOutputFlushSeesEverythingWrittenBefore(t *testing.T) {
	t.Parallel()
	o, err := newOutput()
	require.NoError(t, err)
	defer o.close()
	for i := range 50 {
		buf := newLogBuffer(1<<20, 1<<20)
		o.setSink(buf)
		want := strings.Repeat(fmt.Sprintf("line %d\n", i), i*100)
		_, err := o.w.WriteString(want)
		require.NoError(t, err)
		o.flush(5 * time.Second)
		require.Equal(t, want, string(buf.Bytes()), "round %d", i)
	}
}

func TestOutputMarkerSplitAcrossReads(t *testing.T) {
	t.Parallel()
	o := &output{markers: map[uint64]chan struct{}{}}
	buf := newLogBuffer(1<<20, 1<<20)
	o.sink = buf
	done := make(chan struct{})
	o.markers[7] = done
	stream := []byte("hello" + markerPrefix + "7\x00world \x00 not a marker " + markerPrefix[:4])
	// Feed the stream one byte at a time: every split point is exercised.
	for i := range stream {
		o.consume(stream[i : i+1])
	}
	select {
	case <-done:
	default:
		t.Fatal("marker split across reads was not recognised")
	}
	o.consume([]byte("tail"))
	assert.Equal(t, "helloworld \x00 not a marker "+markerPrefix[:4]+"tail", string(buf.Bytes()))
}

func TestLogBufferBounds(t *testing.T) {
	t.Parallel()
	b := newLogBuffer(10, 8)
	b.Write([]byte("0123456789")) // fills the head exactly
	b.Write([]byte("abcdefghijklmnopqrstuvwxyz"))
	out := string(b.Bytes())
	assert.True(t, strings.HasPrefix(out, "0123456789\n"), out)
	assert.Contains(t, out, "[kumo: 18 bytes of log output dropped]")
	assert.True(t, strings.HasSuffix(out, "stuvwxyz"), out)

	small := newLogBuffer(100, 100)
	small.Write([]byte("short"))
	assert.Equal(t, "short", string(small.Bytes()))

	huge := newLogBuffer(logHeadBytes, logTailBytes)
	chunk := bytes.Repeat([]byte("x"), 64*1024)
	for range 200 { // 12.5 MiB
		huge.Write(chunk)
	}
	assert.LessOrEqual(t, len(huge.Bytes()), logHeadBytes+logTailBytes+100)
}

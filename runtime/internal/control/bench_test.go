package control_test

import (
	"crypto/rand"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// BenchmarkCreateFunction measures the control-plane half of a cold start:
// a zip of a typical Go bootstrap's size packaged and stored.
func BenchmarkCreateFunction(b *testing.B) {
	svc, _ := newServiceB(b)
	body := make([]byte, 8<<20)
	_, _ = rand.Read(body[:2<<20]) // partly incompressible, like a binary
	code := testZipB(b, map[string]string{"bootstrap": string(body)})
	i := 0
	for b.Loop() {
		_, err := svc.CreateFunction(b.Context(), createInput(fmt.Sprintf("fn-%d", i), code))
		require.NoError(b, err)
		i++
	}
}

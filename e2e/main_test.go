// Package e2e holds kumo's black-box end-to-end tests: they start a real
// `kumo server` and drive it with the real aws CLI and aws-sdk-go-v2.
// Tests that need a server need root and are named TestRoot*.
package e2e

import (
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if !cleanupShared() && code == 0 {
		code = 1
	}
	os.Exit(code)
}

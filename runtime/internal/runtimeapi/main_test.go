package runtimeapi_test

import (
	"os"
	"path/filepath"
	"testing"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if echoBin != "" {
		_ = os.RemoveAll(filepath.Dir(echoBin))
	}
	os.Exit(code)
}

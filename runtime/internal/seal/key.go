package seal

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// KeySize is the size of master and data keys: AES-256.
const KeySize = 32

// keyFileHeader starts the master key file, so a file that merely happens
// to hold 44 base64 characters is not taken for a key.
const keyFileHeader = "kumo-master-key-v1 "

// LoadOrCreateKey reads the master key file at path, or creates it with a
// fresh random key when it does not exist; created reports the latter. An
// existing file that is malformed, or that others than its owner may read,
// is an error and is never overwritten: every sealed value depends on it.
func LoadOrCreateKey(path string) (key []byte, created bool, err error) {
	key, err = loadKey(path)
	if err == nil {
		return key, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}
	key = make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, false, fmt.Errorf("generate master key: %w", err)
	}
	err = writeNew(path, formatKey(key))
	if errors.Is(err, fs.ErrExist) {
		// Another process created it first; theirs wins.
		key, err = loadKey(path)
		return key, false, err
	}
	if err != nil {
		return nil, false, err
	}
	return key, true, nil
}

func formatKey(key []byte) []byte {
	return []byte(keyFileHeader + base64.StdEncoding.EncodeToString(key) + "\n")
}

func loadKey(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read master key %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read master key %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("master key %s is not a regular file", path)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("master key %s has mode %04o: it must be readable by its owner only (chmod 600)", path, perm)
	}
	// A valid file is 65 bytes; reading a little more is enough to notice
	// trailing data without reading an arbitrarily large file.
	data, err := io.ReadAll(io.LimitReader(f, 256))
	if err != nil {
		return nil, fmt.Errorf("read master key %s: %w", path, err)
	}
	key, err := parseKey(data)
	if err != nil {
		return nil, fmt.Errorf("master key %s is malformed: %w", path, err)
	}
	return key, nil
}

func parseKey(data []byte) ([]byte, error) {
	rest, ok := bytes.CutPrefix(data, []byte(keyFileHeader))
	if !ok {
		return nil, errors.New("it does not start with \"kumo-master-key-v1\"")
	}
	rest, ok = bytes.CutSuffix(rest, []byte("\n"))
	if !ok {
		return nil, errors.New("it does not end with a newline (truncated?)")
	}
	key := make([]byte, base64.StdEncoding.DecodedLen(len(rest)))
	n, err := base64.StdEncoding.Strict().Decode(key, rest)
	if err != nil {
		return nil, fmt.Errorf("key is not base64: %w", err)
	}
	if n != KeySize {
		return nil, fmt.Errorf("key is %d bytes, want %d", n, KeySize)
	}
	return key[:n], nil
}

// writeNew writes data to path atomically and only if path does not exist:
// a reader sees either no file or the whole file, and an existing file is
// never replaced (link fails where rename would overwrite).
func writeNew(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create master key dir: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".master.key-*")
	if err != nil {
		return fmt.Errorf("create master key: %w", err)
	}
	defer func() {
		err = errors.Join(err, os.Remove(tmp.Name()))
	}()
	if err := tmp.Chmod(0o600); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("create master key: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("write master key: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("sync master key: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close master key: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		return fmt.Errorf("install master key %s: %w", path, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync master key dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync master key dir: %w", err)
	}
	return nil
}

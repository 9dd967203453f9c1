package auth

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
)

// Profile is the section of the shared-credentials file kumo owns.
const Profile = "kumo"

const (
	keyAccessKeyID     = "aws_access_key_id"
	keySecretAccessKey = "aws_secret_access_key"
)

var (
	accessKeyRE = lazyRegexp(`^[A-Z0-9]{16,128}$`)
	secretRE    = lazyRegexp(`^[\x21-\x7e]{16,128}$`)
)

// Credentials is the host's one access key pair.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
}

// LoadOrCreate reads the "kumo" profile of the shared-credentials file at
// path, or creates the file with a fresh random key pair when it does not
// exist; created reports the latter. An existing file that does not hold a
// well-formed "kumo" profile is an error and is never overwritten.
func LoadOrCreate(path string) (creds Credentials, created bool, err error) {
	creds, err = load(path)
	if err == nil {
		return creds, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return Credentials{}, false, err
	}
	creds, err = generate()
	if err != nil {
		return Credentials{}, false, err
	}
	err = writeNew(path, format(creds))
	if errors.Is(err, fs.ErrExist) {
		// Another process created it first; theirs wins.
		creds, err = load(path)
		return creds, false, err
	}
	if err != nil {
		return Credentials{}, false, err
	}
	return creds, true, nil
}

func load(path string) (Credentials, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Credentials{}, fmt.Errorf("read credentials %s: %w", path, err)
	}
	creds, err := parse(data)
	if err != nil {
		return Credentials{}, fmt.Errorf("parse credentials %s: %w", path, err)
	}
	return creds, nil
}

// parse reads the INI dialect the AWS tools accept, strictly enough that a
// damaged file is noticed rather than half-read.
func parse(data []byte) (Credentials, error) {
	var (
		creds   Credentials
		section string
		found   bool
		seen    = map[string]bool{}
	)
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
			continue
		case line[0] == '[':
			if !strings.HasSuffix(line, "]") {
				return Credentials{}, fmt.Errorf("line %d: unterminated section header", n)
			}
			section = strings.TrimSpace(line[1 : len(line)-1])
			if section == Profile {
				if found {
					return Credentials{}, fmt.Errorf("line %d: profile %q appears twice", n, Profile)
				}
				found = true
			}
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok || section == "" {
			return Credentials{}, fmt.Errorf("line %d: expected key = value inside a profile", n)
		}
		if section != Profile {
			continue
		}
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		if seen[key] {
			return Credentials{}, fmt.Errorf("line %d: %s set twice", n, key)
		}
		seen[key] = true
		switch key {
		case keyAccessKeyID:
			creds.AccessKeyID = value
		case keySecretAccessKey:
			creds.SecretAccessKey = value
		}
	}
	if err := sc.Err(); err != nil {
		return Credentials{}, err
	}
	if !found {
		return Credentials{}, fmt.Errorf("no [%s] profile", Profile)
	}
	if !accessKeyRE().MatchString(creds.AccessKeyID) {
		return Credentials{}, fmt.Errorf("profile %s: %s missing or not 16-128 of A-Z0-9", Profile, keyAccessKeyID)
	}
	if !secretRE().MatchString(creds.SecretAccessKey) {
		return Credentials{}, fmt.Errorf("profile %s: %s missing or not 16-128 printable characters", Profile, keySecretAccessKey)
	}
	return creds, nil
}

func generate() (Credentials, error) {
	// 10 bytes are exactly 16 base32 characters and 30 bytes exactly 40
	// base64 characters: the shapes of real AWS keys.
	var b [40]byte
	if _, err := rand.Read(b[:]); err != nil {
		return Credentials{}, fmt.Errorf("generate credentials: %w", err)
	}
	return Credentials{
		AccessKeyID:     "AKIA" + base32.StdEncoding.EncodeToString(b[:10]),
		SecretAccessKey: base64.StdEncoding.EncodeToString(b[10:]),
	}, nil
}

func format(c Credentials) []byte {
	return fmt.Appendf(nil, "# Written by kumo on first start: the key pair for this host's Lambda API.\n[%s]\n%s = %s\n%s = %s\n",
		Profile, keyAccessKeyID, c.AccessKeyID, keySecretAccessKey, c.SecretAccessKey)
}

// writeNew writes data to path atomically and only if path does not exist:
// a reader sees either no file or the whole file, and an existing file is
// never replaced (link fails where rename would overwrite).
func writeNew(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create credentials dir: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".credentials-*")
	if err != nil {
		return fmt.Errorf("create credentials: %w", err)
	}
	defer func() {
		err = errors.Join(err, os.Remove(tmp.Name()))
	}()
	if err := tmp.Chmod(0o600); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("create credentials: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("write credentials: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("sync credentials: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close credentials: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		return fmt.Errorf("install credentials %s: %w", path, err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync credentials dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync credentials dir: %w", err)
	}
	return nil
}

// lazyRegexp compiles on first use: package initialisation runs again in
// every sandbox start (the daemon binary is re-executed as the container's
// init), so it must stay cheap.
func lazyRegexp(expr string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })
}

package auth

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLoadOrCreateCreatesThenLoads(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "data", "credentials")

	creds, created, err := LoadOrCreate(path)
	require.NoError(t, err)
	assert.True(t, created)
	assert.Regexp(t, regexp.MustCompile(`^AKIA[A-Z2-7]{16}$`), creds.AccessKeyID)
	assert.Regexp(t, regexp.MustCompile(`^[A-Za-z0-9+/]{40}$`), creds.SecretAccessKey)

	st, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	entries, err := os.ReadDir(filepath.Dir(path))
	require.NoError(t, err)
	assert.Len(t, entries, 1, "temporary file left behind")

	again, created, err := LoadOrCreate(path)
	require.NoError(t, err)
	assert.False(t, created)
	assert.Equal(t, creds, again)

	other, _, err := LoadOrCreate(filepath.Join(t.TempDir(), "credentials"))
	require.NoError(t, err)
	assert.NotEqual(t, creds.AccessKeyID, other.AccessKeyID)
	assert.NotEqual(t, creds.SecretAccessKey, other.SecretAccessKey)
}

func TestCreatedFileWorksWithAWSCLI(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("aws"); err != nil {
		t.Skip("aws CLI not installed; cannot check it reads the file")
	}
	path := filepath.Join(t.TempDir(), "credentials")
	creds, _, err := LoadOrCreate(path)
	require.NoError(t, err)
	for key, want := range map[string]string{
		"aws_access_key_id":     creds.AccessKeyID,
		"aws_secret_access_key": creds.SecretAccessKey,
	} {
		cmd := exec.CommandContext(t.Context(), "aws", "configure", "get", key, "--profile", Profile)
		cmd.Env = append(os.Environ(), "AWS_SHARED_CREDENTIALS_FILE="+path, "AWS_CONFIG_FILE="+filepath.Join(t.TempDir(), "none"))
		out, err := cmd.Output()
		require.NoError(t, err)
		assert.Equal(t, want, strings.TrimSpace(string(out)))
	}
}

func TestLoadOrCreateAcceptsHandWrittenFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "credentials")
	content := "# mine\n[default]\naws_access_key_id = AKIAOTHEROTHEROTHER1\n\n[kumo]\n; comment\n  aws_access_key_id=AKIAABCDEFGHIJKLMNOP  \naws_secret_access_key = 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\nregion = local\n"
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	creds, created, err := LoadOrCreate(path)
	require.NoError(t, err)
	assert.False(t, created)
	assert.Equal(t, Credentials{AccessKeyID: "AKIAABCDEFGHIJKLMNOP", SecretAccessKey: "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"}, creds)
}

func TestLoadOrCreateRejectsMalformedFile(t *testing.T) {
	t.Parallel()
	const ak = "aws_access_key_id = AKIAABCDEFGHIJKLMNOP\n"
	const sk = "aws_secret_access_key = 0123456789012345678901234567890123456789\n"
	tests := []struct {
		name    string
		content string
	}{
		{"empty", ""},
		{"no kumo profile", "[default]\n" + ak + sk},
		{"missing secret", "[kumo]\n" + ak},
		{"missing key", "[kumo]\n" + sk},
		{"empty key", "[kumo]\naws_access_key_id =\n" + sk},
		{"lowercase key", "[kumo]\naws_access_key_id = akiaabcdefghijklmnop\n" + sk},
		{"short secret", "[kumo]\n" + ak + "aws_secret_access_key = short\n"},
		{"secret with space", "[kumo]\n" + ak + "aws_secret_access_key = 01234567890123 45678901234567890123456789\n"},
		{"duplicate key", "[kumo]\n" + ak + ak + sk},
		{"duplicate profile", "[kumo]\n" + ak + sk + "[kumo]\n" + ak + sk},
		{"unterminated section", "[kumo\n" + ak + sk},
		{"garbage line", "[kumo]\n" + ak + sk + "garbage\n"},
		{"key outside profile", ak + "[kumo]\n" + sk},
		{"binary", "\x00\xff\xfe[kumo]"},
		{"long line", "[kumo]\n" + ak + "aws_secret_access_key = " + strings.Repeat("x", 70000) + "\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "credentials")
			require.NoError(t, os.WriteFile(path, []byte(tc.content), 0o600))
			_, created, err := LoadOrCreate(path)
			require.Error(t, err)
			assert.False(t, created)
			after, err := os.ReadFile(path)
			require.NoError(t, err)
			assert.Equal(t, tc.content, string(after), "malformed file was modified")
		})
	}
}

func TestLoadOrCreatePathIsDirectory(t *testing.T) {
	t.Parallel()
	_, _, err := LoadOrCreate(t.TempDir())
	require.Error(t, err)
}

func TestLoadOrCreateConcurrentFirstStart(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "credentials")
	const n = 16
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		results []Credentials
		creates int
	)
	for range n {
		wg.Go(func() {
			c, created, err := LoadOrCreate(path)
			assert.NoError(t, err)
			mu.Lock()
			defer mu.Unlock()
			results = append(results, c)
			if created {
				creates++
			}
		})
	}
	wg.Wait()
	assert.Equal(t, 1, creates)
	require.Len(t, results, n)
	for _, c := range results {
		assert.Equal(t, results[0], c)
	}
}

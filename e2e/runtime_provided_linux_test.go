package e2e

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRootCLI_RuntimeListAndBuild: `kumo runtime list` shows every managed
// runtime; `kumo runtime build` builds one and list then shows its digest.
func TestRootCLI_RuntimeListAndBuild(t *testing.T) {
	h := sharedHost(t)

	stdout, stderr, rc := h.kumo(t, "runtime", "build", "provided.al2023")
	require.Equal(t, 0, rc, "stderr: %s", stderr)
	m := regexp.MustCompile(`^provided\.al2023 (sha256:[0-9a-f]{64}) \((\d+) packages, `).FindStringSubmatch(stdout)
	require.NotNil(t, m, stdout)
	digest := m[1]
	assert.Contains(t, stdout, "\n  libc6=2.")
	assert.Contains(t, stdout, "\n  libstdc++6=")

	stdout, stderr, rc = h.kumo(t, "runtime", "list")
	require.Equal(t, 0, rc, "stderr: %s", stderr)
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	require.Len(t, lines, 7, stdout)
	assert.Equal(t, []string{"RUNTIME", "BUILT", "DIGEST", "PACKAGES"}, strings.Fields(lines[0]))
	rows := map[string][]string{}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		require.Len(t, f, 4, l)
		rows[f[0]] = f
	}
	for _, rt := range []string{"java17", "nodejs20.x", "provided.al2", "provided.al2023", "python3.11", "ruby3.1"} {
		require.Contains(t, rows, rt)
	}
	assert.Equal(t, []string{"provided.al2023", "yes", digest, m[2]}, rows["provided.al2023"])

	// Building again finds the stored image; --force rebuilds it from the
	// same packages, so the digest stays.
	stdout, stderr, rc = h.kumo(t, "runtime", "build", "provided.al2023", "--force")
	require.Equal(t, 0, rc, "stderr: %s", stderr)
	assert.True(t, strings.HasPrefix(stdout, "provided.al2023 "+digest+" "), stdout)

	_, stderr, rc = h.kumo(t, "runtime", "build", "dotnet8")
	assert.Equal(t, 1, rc)
	assert.Contains(t, stderr, "InvalidParameterValueException: The runtime parameter of dotnet8 is not supported by this kumo host. Supported runtimes: [java17, nodejs20.x, provided.al2, provided.al2023, python3.11, ruby3.1]")
}

// TestRootCLI_RuntimeProvidedGlibc runs a dynamically linked (cgo, glibc)
// bootstrap on provided.al2023 and provided.al2, created and invoked with
// the aws CLI.
func TestRootCLI_RuntimeProvidedGlibc(t *testing.T) {
	h := sharedHost(t)
	root, err := moduleRoot()
	require.NoError(t, err)
	dir := t.TempDir()
	bin := filepath.Join(dir, "bootstrap")
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-o", bin, "./e2e/testdata/glibcfn")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1", "GOOS=linux")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "build glibcfn: %s", out)
	f, err := elf.Open(bin)
	require.NoError(t, err)
	interp := false
	for _, p := range f.Progs {
		interp = interp || p.Type == elf.PT_INTERP
	}
	libs, err := f.ImportedLibraries()
	require.NoError(t, err)
	require.NoError(t, f.Close())
	require.True(t, interp, "the bootstrap must be dynamically linked")
	require.Contains(t, libs, "libc.so.6")
	b, err := os.ReadFile(bin)
	require.NoError(t, err)
	z, err := makeZip(zipEntry{name: "bootstrap", data: b, mode: 0o755})
	require.NoError(t, err)
	zipPath := filepath.Join(built.dir, uniqueName("glibcfn")+".zip")
	require.NoError(t, os.WriteFile(zipPath, z, 0o644))
	t.Cleanup(func() { _ = os.Remove(zipPath) })

	name := uniqueName("glibc")
	h.awsJSON(t, nil, "create-function", "--function-name", name, "--runtime", "provided.al2023",
		"--handler", "bootstrap", "--role", testRole, "--zip-file", "fileb://"+zipPath)
	h.deleteAtCleanup(t, name)
	for _, rt := range []string{"provided.al2023", "provided.al2"} {
		if rt != "provided.al2023" {
			h.awsJSON(t, nil, "update-function-configuration", "--function-name", name, "--runtime", rt)
		}
		res, body := h.invoke(t, name, map[string]any{"runtime": rt})
		require.Nil(t, res.FunctionError, "%s: %s\n%s", rt, res.Payload, decodeLog(t, res.LogResult))
		assert.Regexp(t, `^2\.\d+$`, body["glibc"], rt)
		assert.Equal(t, map[string]any{"runtime": rt}, body["event"], rt)
	}

	// Runtimes kumo cannot provide are refused with the supported list.
	r := h.aws(t, "create-function", "--function-name", uniqueName("dotnet"), "--runtime", "dotnet8",
		"--handler", "x", "--role", testRole, "--zip-file", "fileb://"+zipPath)
	requireCLIError(t, r, "InvalidParameterValueException")
	assert.Contains(t, r.stderr, "Supported runtimes: [java17, nodejs20.x, provided.al2, provided.al2023, python3.11, ruby3.1]")
}

package runtimes

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRecipeClosure proves each recipe's package list is exactly its
// roots' dependency closure in the host's dpkg database (minus
// notInImages): nothing missing, nothing extra. When Debian changes a
// dependency this fails and names the package to add or drop.
func TestRecipeClosure(t *testing.T) {
	if _, err := os.Stat("/var/lib/dpkg/status"); err != nil {
		t.Skip("needs a Debian host: no /var/lib/dpkg/status")
	}
	t.Parallel()
	db, err := HostDpkg.readStatus()
	require.NoError(t, err)
	for _, name := range Supported() {
		r := recipes[name]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			roots := r.roots()
			require.NotEmpty(t, roots)
			got, err := db.closure(roots, notInImages)
			require.NoError(t, err, "install the runtime's packages: apt-get install -y %v", roots)
			var listed []string
			for _, p := range r.Packages {
				listed = append(listed, p.Name)
				_, excluded := notInImages[p.Name]
				assert.False(t, excluded && !p.Root, "%s is listed but notInImages leaves it out", p.Name)
			}
			assert.True(t, slices.IsSorted(listed), "keep the list sorted: %v", listed)
			assert.Equal(t, got, slices.Sorted(slices.Values(listed)), "the closure of %v", roots)
			// Every root's version pin matches the host.
			for _, p := range r.Packages {
				assert.Contains(t, db.pkgs, p.Name)
				if ip, ok := db.pkgs[p.Name]; ok {
					assert.Truef(t, len(ip.upstream()) >= len(p.Version) && ip.upstream()[:len(p.Version)] == p.Version,
						"%s is %s, the recipe wants %s*", p.Name, ip.Version, p.Version)
				}
			}
		})
	}
}

func TestReadStatus(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	status := `Package: libfoo1
Status: install ok installed
Architecture: ` + dpkgArch() + `
Multi-Arch: same
Version: 2:1.2.3-4
Provides: libfoo-abi (= 1)
Depends: libc6 (>= 2.34), libbar | libbaz:any
Pre-Depends: gcc-12-base
Conffiles:
 /etc/foo.conf 0123456789abcdef0123456789abcdef
 /etc/old.conf fedcba9876543210fedcba9876543210 obsolete
Description: foo
 a longer
 description

Package: libfoo1
Status: install ok installed
Architecture: some-other-arch
Version: 9

Package: gone
Status: deinstall ok config-files
Architecture: all
Version: 1

Package: half
Status: install reinstreq half-installed
Architecture: all
Version: 1
`
	require.NoError(t, os.WriteFile(filepath.Join(dir, "status"), []byte(status), 0o644))
	db, err := Dpkg{AdminDir: dir, Root: "/"}.readStatus()
	require.NoError(t, err)
	require.Len(t, db.pkgs, 1)
	p := db.pkgs["libfoo1"]
	require.NotNil(t, p)
	assert.Equal(t, "2:1.2.3-4", p.Version)
	assert.Equal(t, "1.2.3-4", p.upstream())
	assert.Equal(t, [][]string{{"gcc-12-base"}, {"libc6"}, {"libbar", "libbaz"}}, p.Deps)
	assert.Equal(t, []string{"libfoo-abi"}, p.Provides)
	assert.Equal(t, map[string]string{
		"/etc/foo.conf": "0123456789abcdef0123456789abcdef",
		"/etc/old.conf": "fedcba9876543210fedcba9876543210",
	}, p.Conffiles)
	assert.Equal(t, "libfoo1", db.resolve([]string{"nothing", "libfoo-abi"}))
	assert.Empty(t, db.resolve([]string{"nothing"}))
	_, err = db.closure([]string{"libfoo1"}, nil)
	require.ErrorContains(t, err, "dependency gcc-12-base of libfoo1 is not installed")
	_, err = db.closure([]string{"absent"}, nil)
	require.ErrorContains(t, err, "package absent (needed by the recipe) is not installed")
}

func TestPathFilter(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(root, "etc/dpkg/dpkg.cfg.d"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "etc/dpkg/dpkg.cfg.d/excludes"), []byte(`# as docker's slim images
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude=/usr/share/locale/??/*
`), 0o644))
	pf := Dpkg{Root: root}.readPathFilter()
	for name, want := range map[string]bool{
		"/usr/share/doc/libc6/changelog.gz":  true,
		"/usr/share/doc/libc6/copyright":     false,
		"/usr/share/doc/libc6/a/b/c":         true, // '*' crosses '/', as in fnmatch without FNM_PATHNAME
		"/usr/share/locale/de/LC_MESSAGES/x": true,
		"/usr/share/locale/de_AT/x":          false,
		"/usr/bin/python3.11":                false,
	} {
		assert.Equal(t, want, pf.excluded(name), name)
	}
}

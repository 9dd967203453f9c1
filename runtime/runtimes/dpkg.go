package runtimes

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	goruntime "runtime"
	"slices"
	"strings"

	"github.com/kumo-dev/kumo/runtime/kumo"
)

// Dpkg locates what dpkg installed on a host: its admin directory (the
// status database and the per-package file lists and checksums) and the
// file system root it installed into. Base images are built from these
// files exactly as dpkg put them there, so a host needs no network and no
// package downloads to build one.
type Dpkg struct {
	// AdminDir is dpkg's database, /var/lib/dpkg by default.
	AdminDir string
	// Root is where the packages were installed, / by default.
	Root string
}

// HostDpkg is the host's own dpkg database and root.
var HostDpkg = Dpkg{AdminDir: "/var/lib/dpkg", Root: "/"}

// installed is one package of the status database whose files are on disk.
type installed struct {
	Name, Arch, Version, MultiArch string
	// Deps is Pre-Depends then Depends, one entry per comma-separated
	// group; each group lists its alternatives.
	Deps     [][]string
	Provides []string
	// Conffiles maps each conffile's path to its md5 as shipped; they are
	// not in the package's md5sums file.
	Conffiles map[string]string
}

// upstream is the version without its epoch ("1:3.1" → "3.1").
func (p *installed) upstream() string {
	if _, v, ok := strings.Cut(p.Version, ":"); ok {
		return v
	}
	return p.Version
}

// infoName is the package's name in dpkg's info directory: Multi-Arch:
// same packages carry their architecture there.
func (d Dpkg) infoPath(p *installed, ext string) string {
	dir := filepath.Join(d.AdminDir, "info")
	if p.Arch != "" && p.Arch != "all" {
		qualified := filepath.Join(dir, p.Name+":"+p.Arch+"."+ext)
		if _, err := os.Stat(qualified); err == nil {
			return qualified
		}
	}
	return filepath.Join(dir, p.Name+"."+ext)
}

// dpkgArch is dpkg's name for the architecture this binary runs on.
func dpkgArch() string {
	switch goruntime.GOARCH {
	case "386":
		return "i386"
	case "arm":
		return "armhf"
	case "ppc64le":
		return "ppc64el"
	default:
		return goruntime.GOARCH
	}
}

// database is the parsed status file: installed packages by name (native
// architecture or "all" only), and which packages provide a virtual name.
type database struct {
	pkgs     map[string]*installed
	provides map[string][]string
}

// readStatus parses the status database. Only packages whose files are
// on disk count ("… ok installed"); half-installed, config-files-only and
// foreign-architecture entries are left out.
func (d Dpkg) readStatus() (*database, error) {
	name := filepath.Join(d.AdminDir, "status")
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("read dpkg status: %w", err)
	}
	defer f.Close()
	db := &database{pkgs: map[string]*installed{}, provides: map[string][]string{}}
	native := dpkgArch()
	fields := map[string]string{}
	var last string
	flush := func() {
		defer clear(fields)
		st := strings.Fields(fields["Status"])
		if fields["Package"] == "" || len(st) != 3 || st[1] != "ok" || st[2] != "installed" {
			return
		}
		arch := fields["Architecture"]
		if arch != native && arch != "all" {
			return
		}
		p := &installed{
			Name:      fields["Package"],
			Arch:      arch,
			Version:   fields["Version"],
			MultiArch: fields["Multi-Arch"],
			Conffiles: map[string]string{},
		}
		for _, field := range []string{"Pre-Depends", "Depends"} {
			for group := range strings.SplitSeq(fields[field], ",") {
				var alts []string
				for alt := range strings.SplitSeq(group, "|") {
					if n := depName(alt); n != "" {
						alts = append(alts, n)
					}
				}
				if len(alts) > 0 {
					p.Deps = append(p.Deps, alts)
				}
			}
		}
		for prov := range strings.SplitSeq(fields["Provides"], ",") {
			if n := depName(prov); n != "" {
				p.Provides = append(p.Provides, n)
				db.provides[n] = append(db.provides[n], p.Name)
			}
		}
		for line := range strings.Lines(fields["Conffiles"]) {
			// " /etc/foo 0123…ef [obsolete]"
			if fs := strings.Fields(line); len(fs) >= 2 {
				p.Conffiles[fs[0]] = fs[1]
			}
		}
		db.pkgs[p.Name] = p
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			flush()
		case line[0] == ' ' || line[0] == '\t':
			if last != "" {
				fields[last] += "\n" + line
			}
		default:
			k, v, _ := strings.Cut(line, ":")
			last = k
			fields[k] = strings.TrimSpace(v)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read dpkg status: %w", err)
	}
	flush()
	return db, nil
}

// depName is the package name of one dependency ("libc6 (>= 2.34)",
// "libgcc1:any") or provided name.
func depName(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, " (["); i >= 0 {
		s = s[:i]
	}
	s, _, _ = strings.Cut(s, ":")
	return s
}

// resolve returns the installed package that satisfies a dependency group:
// the first alternative installed by that name, else the first installed
// provider of it; "" when none is.
func (db *database) resolve(alts []string) string {
	for _, a := range alts {
		if _, ok := db.pkgs[a]; ok {
			return a
		}
	}
	for _, a := range alts {
		if prov := db.provides[a]; len(prov) > 0 {
			return slices.Min(prov)
		}
	}
	return ""
}

// closure is roots and every installed package they depend on,
// transitively, stopping at the dependencies in skip; it is how each
// recipe's package list was derived, and tests use it to prove the lists
// complete.
func (db *database) closure(roots []string, skip map[string]string) ([]string, error) {
	seen := map[string]bool{}
	var visit func(name, via string) error
	visit = func(name, via string) error {
		if seen[name] {
			return nil
		}
		if _, ok := skip[name]; ok && via != "" {
			return nil
		}
		p, ok := db.pkgs[name]
		if !ok {
			if via == "" {
				via = "the recipe"
			}
			return fmt.Errorf("package %s (needed by %s) is not installed", name, via)
		}
		seen[name] = true
		for _, alts := range p.Deps {
			dep := db.resolve(alts)
			if dep == "" {
				return fmt.Errorf("dependency %s of %s is not installed", strings.Join(alts, " | "), name)
			}
			if err := visit(dep, name); err != nil {
				return err
			}
		}
		return nil
	}
	for _, r := range roots {
		if err := visit(r, ""); err != nil {
			return nil, err
		}
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	slices.Sort(out)
	return out, nil
}

// readList returns the paths a package installed, as dpkg lists them
// (absolute, "/." for the root).
func (d Dpkg) readList(p *installed) ([]string, error) {
	b, err := os.ReadFile(d.infoPath(p, "list"))
	if err != nil {
		return nil, fmt.Errorf("read file list of %s: %w", p.Name, err)
	}
	var out []string
	for line := range strings.Lines(string(b)) {
		line = strings.TrimRight(line, "\n")
		if line == "" || line == "/." {
			continue
		}
		out = append(out, path.Clean(line))
	}
	return out, nil
}

// readMD5s returns the md5 of each regular file a package shipped, by
// absolute path, from its md5sums file plus its conffiles.
func (d Dpkg) readMD5s(p *installed) (map[string]string, error) {
	sums := map[string]string{}
	for k, v := range p.Conffiles {
		sums[k] = v
	}
	b, err := os.ReadFile(d.infoPath(p, "md5sums"))
	if errors.Is(err, fs.ErrNotExist) {
		return sums, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read checksums of %s: %w", p.Name, err)
	}
	for line := range strings.Lines(string(b)) {
		sum, name, ok := strings.Cut(strings.TrimRight(line, "\n"), "  ")
		if !ok {
			continue
		}
		sums["/"+strings.TrimPrefix(name, "/")] = sum
	}
	return sums, nil
}

// diversion is one dpkg-divert record: the file a package shipped at From
// lives at To, because package By (or the admin, "") owns From.
type diversion struct {
	To, By string
}

func (d Dpkg) readDiversions() (map[string]diversion, error) {
	b, err := os.ReadFile(filepath.Join(d.AdminDir, "diversions"))
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]diversion{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read dpkg diversions: %w", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	out := map[string]diversion{}
	for i := 0; i+2 < len(lines); i += 3 {
		by := lines[i+2]
		if by == ":" {
			by = ""
		}
		out[lines[i]] = diversion{To: lines[i+1], By: by}
	}
	return out, nil
}

// pathFilter is dpkg's --path-exclude / --path-include configuration
// (docker's slim images exclude docs and locales this way): a listed file
// that is missing on disk because of it is not an error.
type pathFilter []pathRule

type pathRule struct {
	include bool
	re      *regexp.Regexp
}

func (d Dpkg) readPathFilter() pathFilter {
	names, _ := filepath.Glob(filepath.Join(d.Root, "etc/dpkg/dpkg.cfg.d/*"))
	names = append([]string{filepath.Join(d.Root, "etc/dpkg/dpkg.cfg")}, names...)
	var pf pathFilter
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			continue
		}
		for line := range strings.Lines(string(b)) {
			// "path-exclude /usr/share/doc/*" or "path-exclude=/usr/share/doc/*"
			line = strings.TrimPrefix(strings.TrimSpace(line), "--")
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				k, v, ok = strings.Cut(line, " ")
			}
			k, v = strings.TrimSpace(k), strings.TrimSpace(v)
			if !ok || (k != "path-exclude" && k != "path-include") {
				continue
			}
			if re, err := globRegexp(v); err == nil {
				pf = append(pf, pathRule{include: k == "path-include", re: re})
			}
		}
	}
	return pf
}

// globRegexp compiles a dpkg path pattern. dpkg matches with fnmatch(3)
// without FNM_PATHNAME, so '*' matches '/' too, unlike path.Match.
func globRegexp(glob string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(glob); i++ {
		switch c := glob[i]; c {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		case '[':
			j := strings.IndexByte(glob[i:], ']')
			if j < 0 {
				return nil, fmt.Errorf("unterminated [ in %q", glob)
			}
			class := glob[i+1 : i+j]
			if strings.HasPrefix(class, "!") {
				class = "^" + class[1:]
			}
			b.WriteString("[" + class + "]")
			i += j
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}

// excluded reports whether dpkg was told not to install name; the last
// matching pattern wins, as in dpkg.
func (pf pathFilter) excluded(name string) bool {
	out := false
	for _, r := range pf {
		if r.re.MatchString(name) {
			out = !r.include
		}
	}
	return out
}

// missingPackages is the error for recipe packages a host lacks; it names
// the command that installs them.
func missingPackages(runtime string, names []string) error {
	return kumo.Errorf(kumo.ErrServiceUnavailable,
		"runtime %s cannot be built on this host: package(s) %s not installed; install them with: apt-get install -y %s",
		runtime, strings.Join(names, ", "), strings.Join(names, " "))
}

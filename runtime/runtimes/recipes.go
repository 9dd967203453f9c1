package runtimes

import (
	"maps"
	"slices"
	"strings"

	"github.com/kumo-dev/kumo/runtime/kumo"
)

// Package is one Debian package of a recipe.
type Package struct {
	Name string
	// Version is the upstream version prefix the recipe was made for
	// ("3.11."); "" accepts any version. Only the packages that make the
	// runtime what its identifier says are pinned: a library's Debian
	// security update must not stop a host from building.
	Version string
	// Root marks the packages the runtime is about; the others are their
	// dependency closure.
	Root bool
}

// Recipe says how to build one runtime's base image from the host's
// packages.
type Recipe struct {
	Runtime string
	// Packages is the recipe's whole dependency closure, listed
	// explicitly (derived with the Depends of the host's dpkg database,
	// minus notInImages), so what goes into an image is reviewed code
	// rather than whatever a resolver picks. TestRecipeClosure proves each
	// list complete against the host's database, and the Root tests prove
	// it by running each runtime in a sandbox.
	Packages []Package
	// LeaveOut are trees of the packages that no function needs, beyond
	// the documentation and headers every image leaves out.
	LeaveOut []string
	// HostFiles are files that maintainer scripts generate at install time,
	// so no package lists them; they are copied as they are on the host.
	HostFiles []string
	// Bytecode names the recipe's Python interpreter (an image path) when
	// the image should carry bytecode for its packages' Python sources
	// (bytecode.go).
	Bytecode string
	// Links are symlinks that update-alternatives would make.
	Links map[string]string
	// Entrypoint is the image's ENTRYPOINT; empty for provided runtimes,
	// whose sandbox runs the function's bootstrap.
	Entrypoint []string
	// Env is added to image.BaseEnv.
	Env []string
	// Client names the runtime interface client in this package
	// (<Client>/var-runtime is copied to /var/runtime); "" for none.
	Client string
}

// notInImages are the packages every closure stops at (unless a recipe
// lists one as a root), each with the reason images do without it.
// Everything else a recipe's packages depend on is in the recipe.
var notInImages = map[string]string{
	"dpkg":                 "package management; nothing in a sandbox installs packages",
	"install-info":         "maintains the info directory, which images leave out",
	"debconf":              "asks configuration questions at install time",
	"debianutils":          "dash's maintainer scripts (add-shell)",
	"ca-certificates":      "the skeleton layer carries the host's CA bundle",
	"openssl":              "the command-line tool ca-certificates runs to build the bundle (python3.11 and ruby3.1 list it for /usr/lib/ssl)",
	"python3":              "nodejs wants it for node-gyp, which compiles native addons; nothing compiles in a sandbox",
	"util-linux":           "system administration tools; the JVM runs none of them",
	"ca-certificates-java": "only its install script matters: it generates /etc/ssl/certs/java/cacerts, which java17 copies from the host",
	"java-common":          "update-java-alternatives; java17 links /usr/bin/java itself",
}

// glibc is what a dynamically linked C, C++ or cgo program needs, plus a
// /bin/sh for shell-script bootstraps and wrappers.
var glibc = []Package{
	{Name: "dash", Root: true},
	{Name: "gcc-12-base"},
	{Name: "libc6", Version: "2.", Root: true},
	{Name: "libgcc-s1", Root: true},
	{Name: "libstdc++6", Root: true},
}

func javaHome() string { return "/usr/lib/jvm/java-17-openjdk-" + dpkgArch() }

// recipes are the managed runtimes, by identifier.
var recipes = map[string]*Recipe{
	"provided.al2023": {Runtime: "provided.al2023", Packages: glibc},
	"provided.al2":    {Runtime: "provided.al2", Packages: glibc},
	"python3.11": {
		Runtime: "python3.11",
		Packages: []Package{
			{Name: "dash", Root: true}, // /bin/sh for subprocess(shell=True), os.system
			{Name: "gcc-12-base"},
			{Name: "libbz2-1.0"},
			{Name: "libc6", Version: "2."},
			{Name: "libcom-err2"},
			{Name: "libcrypt1"},
			{Name: "libdb5.3"},
			{Name: "libexpat1"},
			{Name: "libffi8"},
			{Name: "libgcc-s1"},
			{Name: "libgssapi-krb5-2"},
			{Name: "libk5crypto3"},
			{Name: "libkeyutils1"},
			{Name: "libkrb5-3"},
			{Name: "libkrb5support0"},
			{Name: "liblzma5"},
			{Name: "libncursesw6"},
			{Name: "libnsl2"},
			{Name: "libpython3.11-minimal", Version: "3.11."},
			{Name: "libpython3.11-stdlib", Version: "3.11."},
			{Name: "libreadline8"},
			{Name: "libsqlite3-0"},
			{Name: "libssl3"},
			{Name: "libtinfo6"},
			{Name: "libtirpc-common"},
			{Name: "libtirpc3"},
			{Name: "libuuid1"},
			{Name: "media-types"},
			{Name: "openssl", Root: true}, // /usr/lib/ssl/cert.pem, where libssl looks for CAs
			{Name: "python3-minimal", Version: "3.11.", Root: true},
			{Name: "python3.11", Version: "3.11.", Root: true},
			{Name: "python3.11-minimal", Version: "3.11."},
			{Name: "readline-common"},
			{Name: "zlib1g"},
		},
		Bytecode:   "/usr/bin/python3.11",
		Entrypoint: []string{"/usr/bin/python3.11", "/var/runtime/bootstrap.py"},
		Client:     "python",
	},
	"nodejs20.x": {
		Runtime: "nodejs20.x",
		Packages: []Package{
			{Name: "dash", Root: true}, // /bin/sh for child_process.exec
			{Name: "gcc-12-base"},
			{Name: "libc6", Version: "2."},
			{Name: "libgcc-s1"},
			{Name: "libstdc++6"},
			{Name: "nodejs", Version: "20.", Root: true},
		},
		// Package managers, like dpkg: nothing installs packages in a
		// sandbox. Hosts also commonly upgrade npm in place
		// (npm install -g npm), after which its files no longer match the
		// package's checksums.
		LeaveOut: []string{
			"/usr/bin/corepack", "/usr/bin/npm", "/usr/bin/npx",
			"/usr/lib/node_modules/corepack", "/usr/lib/node_modules/npm",
		},
		Entrypoint: []string{"/usr/bin/node", "/var/runtime/index.mjs"},
		Env: []string{
			"NODE_PATH=/opt/nodejs/node20/node_modules:/opt/nodejs/node_modules:/var/runtime/node_modules:/var/runtime:/var/task",
		},
		Client: "nodejs",
	},
	"ruby3.1": {
		Runtime: "ruby3.1",
		Packages: []Package{
			{Name: "dash", Root: true}, // /bin/sh for system and backticks
			{Name: "gcc-12-base"},
			{Name: "libbsd0"},
			{Name: "libc6", Version: "2."},
			{Name: "libcrypt1"},
			{Name: "libedit2"},
			{Name: "libffi8"},
			{Name: "libgcc-s1"},
			{Name: "libgmp10"},
			{Name: "libmd0"},
			{Name: "libncurses6"},
			{Name: "libruby", Version: "3.1"},
			{Name: "libruby3.1", Version: "3.1."},
			{Name: "libssl3"},
			{Name: "libtinfo6"},
			{Name: "libyaml-0-2"},
			{Name: "openssl", Root: true}, // /usr/lib/ssl/cert.pem, where libssl looks for CAs
			{Name: "rake"},
			{Name: "ruby", Version: "3.1", Root: true},
			{Name: "ruby-net-telnet"},
			{Name: "ruby-rubygems"},
			{Name: "ruby-sdbm"},
			{Name: "ruby-webrick"},
			{Name: "ruby-xmlrpc"},
			{Name: "ruby3.1", Version: "3.1.", Root: true},
			{Name: "rubygems-integration"},
			{Name: "zlib1g"},
		},
		Entrypoint: []string{"/usr/bin/ruby3.1", "/var/runtime/bootstrap.rb"},
		Env:        []string{"GEM_PATH=/var/task/vendor/bundle/ruby/3.1.0:/opt/ruby/gems/3.1.0"},
		Client:     "ruby",
	},
	"java17": {
		Runtime: "java17",
		Packages: []Package{
			{Name: "dash", Root: true}, // /bin/sh for the bootstrap script
			{Name: "fontconfig-config"},
			{Name: "fonts-dejavu-core"},
			{Name: "gcc-12-base"},
			{Name: "libasound2"},
			{Name: "libasound2-data"},
			{Name: "libavahi-client3"},
			{Name: "libavahi-common-data"},
			{Name: "libavahi-common3"},
			{Name: "libblkid1"},
			{Name: "libbrotli1"},
			{Name: "libc6", Version: "2."},
			{Name: "libcap2"},
			{Name: "libcom-err2"},
			{Name: "libcups2"},
			{Name: "libdbus-1-3"},
			{Name: "libexpat1"},
			{Name: "libffi8"},
			{Name: "libfontconfig1"},
			{Name: "libfreetype6"},
			{Name: "libgcc-s1"},
			{Name: "libgcrypt20"},
			{Name: "libglib2.0-0"},
			{Name: "libgmp10"},
			{Name: "libgnutls30"},
			{Name: "libgpg-error0"},
			{Name: "libgraphite2-3"},
			{Name: "libgssapi-krb5-2"},
			{Name: "libharfbuzz0b"},
			{Name: "libhogweed6"},
			{Name: "libidn2-0"},
			{Name: "libjpeg62-turbo"},
			{Name: "libk5crypto3"},
			{Name: "libkeyutils1"},
			{Name: "libkrb5-3"},
			{Name: "libkrb5support0"},
			{Name: "liblcms2-2"},
			{Name: "liblz4-1"},
			{Name: "liblzma5"},
			{Name: "libmount1"},
			{Name: "libnettle8"},
			{Name: "libnspr4"},
			{Name: "libnss3"},
			{Name: "libp11-kit0"},
			{Name: "libpcre2-8-0"},
			{Name: "libpcsclite1"},
			{Name: "libpng16-16"},
			{Name: "libselinux1"},
			{Name: "libsqlite3-0"},
			{Name: "libssl3"},
			{Name: "libstdc++6"},
			{Name: "libsystemd0"},
			{Name: "libtasn1-6"},
			{Name: "libunistring2"},
			{Name: "libzstd1"},
			{Name: "openjdk-17-jre-headless", Version: "17.", Root: true},
			{Name: "zlib1g"},
		},
		HostFiles:  []string{"/etc/ssl/certs/java/cacerts"},
		Links:      map[string]string{"/usr/bin/java": javaHome() + "/bin/java"},
		Entrypoint: []string{"/var/runtime/bootstrap"},
		Client:     "java",
	},
}

// Supported returns the runtime identifiers this package builds, sorted.
func Supported() []string { return slices.Sorted(maps.Keys(recipes)) }

// lookup returns the recipe of runtime, or Lambda's error for a runtime
// this host does not offer.
func lookup(runtime string) (*Recipe, error) {
	if r, ok := recipes[runtime]; ok {
		return r, nil
	}
	return nil, Unsupported(runtime)
}

// Unsupported is the InvalidParameterValueException for a runtime kumo
// does not provide; it names the ones it does.
func Unsupported(runtime string) error {
	return kumo.InvalidParameter("The runtime parameter of %s is not supported by this kumo host. Supported runtimes: [%s]; other runtimes can run as container images (PackageType Image)",
		runtime, strings.Join(Supported(), ", "))
}

// roots are the packages a recipe is about; the rest of Packages is
// their closure.
func (r *Recipe) roots() []string {
	var out []string
	for _, p := range r.Packages {
		if p.Root {
			out = append(out, p.Name)
		}
	}
	return out
}

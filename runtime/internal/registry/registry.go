package registry

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kumo-dev/kumo/runtime/image"
	"github.com/kumo-dev/kumo/runtime/internal/auth"
)

// Defaults for the options.
const (
	DefaultMaxBlobSize = 10 << 30
	DefaultIdleTimeout = time.Minute
	defaultUploadTTL   = time.Hour
	defaultMaxUploads  = 1024
)

// Registry is the http.Handler for /v2/. It is safe for concurrent use.
type Registry struct {
	store *image.Store
	user  [sha256.Size]byte // hashes, so the comparison takes the same time for any length
	pass  [sha256.Size]byte
	log   *slog.Logger

	maxBlob    int64
	idle       time.Duration
	uploadTTL  time.Duration
	maxUploads int
	now        func() time.Time

	mu      sync.Mutex
	uploads map[string]*session // blobs.go
}

var _ http.Handler = (*Registry)(nil)

// Option configures a Registry.
type Option func(*Registry) error

// WithLogger sets the logger; the default discards everything.
func WithLogger(l *slog.Logger) Option {
	return func(reg *Registry) error {
		if l == nil {
			return errors.New("WithLogger: nil logger")
		}
		reg.log = l
		return nil
	}
}

// WithMaxBlobSize bounds a single blob (DefaultMaxBlobSize).
func WithMaxBlobSize(n int64) Option {
	return func(reg *Registry) error {
		if n <= 0 {
			return fmt.Errorf("WithMaxBlobSize: %d is not positive", n)
		}
		reg.maxBlob = n
		return nil
	}
}

// WithIdleTimeout sets how long reading or writing a body may make no
// progress before the connection is dropped (DefaultIdleTimeout).
func WithIdleTimeout(d time.Duration) Option {
	return func(reg *Registry) error {
		if d <= 0 {
			return fmt.Errorf("WithIdleTimeout: %v is not positive", d)
		}
		reg.idle = d
		return nil
	}
}

// WithUploadLimits sets how long an unused upload session lives and how
// many may be open at once (1h, 1024).
func WithUploadLimits(ttl time.Duration, maxOpen int) Option {
	return func(reg *Registry) error {
		if ttl <= 0 || maxOpen <= 0 {
			return fmt.Errorf("WithUploadLimits: ttl %v and max %d must be positive", ttl, maxOpen)
		}
		reg.uploadTTL, reg.maxUploads = ttl, maxOpen
		return nil
	}
}

// New returns the registry for store, accepting creds (user = access key
// id, password = secret access key) in HTTP Basic authentication.
func New(store *image.Store, creds auth.Credentials, opts ...Option) (*Registry, error) {
	if store == nil {
		return nil, errors.New("new registry: nil image store")
	}
	if creds.AccessKeyID == "" || creds.SecretAccessKey == "" {
		return nil, errors.New("new registry: empty credentials")
	}
	reg := &Registry{
		store:      store,
		user:       sha256.Sum256([]byte(creds.AccessKeyID)),
		pass:       sha256.Sum256([]byte(creds.SecretAccessKey)),
		log:        slog.New(slog.DiscardHandler),
		maxBlob:    DefaultMaxBlobSize,
		idle:       DefaultIdleTimeout,
		uploadTTL:  defaultUploadTTL,
		maxUploads: defaultMaxUploads,
		now:        time.Now,
		uploads:    map[string]*session{},
	}
	for _, o := range opts {
		if err := o(reg); err != nil {
			return nil, fmt.Errorf("new registry: %w", err)
		}
	}
	return reg, nil
}

// ServeHTTP implements http.Handler for paths under /v2/.
func (reg *Registry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	if r.ContentLength != 0 {
		// Bounds reading the body, and the server's discarding of what a
		// handler left unread; progressReader extends it while data flows
		// and clears it at the end of the body.
		_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(reg.idle))
	}
	if err := reg.serve(w, r); err != nil {
		reg.writeError(w, r, err)
	}
}

func (reg *Registry) serve(w http.ResponseWriter, r *http.Request) error {
	// Authentication comes before anything else, so an anonymous client
	// learns nothing, not even which repositories or blobs exist.
	if !reg.authorized(r) {
		return newError(http.StatusUnauthorized, codeUnauthorized, "authentication required")
	}
	rt, err := route(r.URL.EscapedPath())
	if err != nil {
		return err
	}
	switch rt.kind {
	case routeBase:
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			return errMethod(r)
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", "2")
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			_, _ = w.Write([]byte("{}"))
		}
		return nil
	case routeCatalog:
		if r.Method != http.MethodGet {
			return errMethod(r)
		}
		return reg.catalog(w, r)
	case routeTags:
		if r.Method != http.MethodGet {
			return errMethod(r)
		}
		return reg.tags(w, r, rt.name)
	case routeManifest:
		return reg.manifest(w, r, rt.name, rt.ref)
	case routeBlob:
		return reg.blob(w, r, rt.name, rt.ref)
	case routeUpload:
		return reg.upload(w, r, rt.name, rt.ref)
	}
	return newError(http.StatusNotFound, codeUnsupported, "no such endpoint")
}

// authorized checks HTTP Basic credentials in constant time.
func (reg *Registry) authorized(r *http.Request) bool {
	user, pass, ok := r.BasicAuth()
	if !ok {
		return false
	}
	u := sha256.Sum256([]byte(user))
	p := sha256.Sum256([]byte(pass))
	// Both compared, always: & rather than &&.
	return subtle.ConstantTimeCompare(u[:], reg.user[:])&subtle.ConstantTimeCompare(p[:], reg.pass[:]) == 1
}

func errMethod(r *http.Request) error {
	return newError(http.StatusMethodNotAllowed, codeUnsupported, "%s is not supported here", r.Method)
}

type routeKind int

const (
	routeUnknown routeKind = iota
	routeBase
	routeCatalog
	routeTags
	routeManifest
	routeBlob
	routeUpload
)

type routed struct {
	kind routeKind
	name string // repository
	ref  string // tag or digest; digest; upload id ("" to start one)
}

// route splits a /v2/ path. Repository names contain slashes, so the
// endpoint is recognised from the end of the path. Segments are split
// before they are unescaped: an escaped slash belongs to its segment.
func route(escapedPath string) (routed, error) {
	rest, ok := strings.CutPrefix(escapedPath, "/v2/")
	if !ok {
		return routed{}, newError(http.StatusNotFound, codeUnsupported, "no such endpoint")
	}
	switch rest {
	case "":
		return routed{kind: routeBase}, nil
	case "_catalog":
		return routed{kind: routeCatalog}, nil
	}
	seg := strings.Split(rest, "/")
	for i, s := range seg {
		u, err := url.PathUnescape(s)
		if err != nil {
			return routed{}, newError(http.StatusBadRequest, codeNameInvalid, "malformed path")
		}
		seg[i] = u
	}
	n := len(seg)
	var rt routed
	switch {
	case n >= 3 && seg[n-2] == "tags" && seg[n-1] == "list":
		rt = routed{kind: routeTags, name: strings.Join(seg[:n-2], "/")}
	case n >= 3 && seg[n-2] == "manifests":
		rt = routed{kind: routeManifest, name: strings.Join(seg[:n-2], "/"), ref: seg[n-1]}
	case n >= 4 && seg[n-3] == "blobs" && seg[n-2] == "uploads":
		rt = routed{kind: routeUpload, name: strings.Join(seg[:n-3], "/"), ref: seg[n-1]}
	case n >= 3 && seg[n-2] == "blobs" && seg[n-1] == "uploads":
		rt = routed{kind: routeUpload, name: strings.Join(seg[:n-2], "/")}
	case n >= 3 && seg[n-2] == "blobs":
		rt = routed{kind: routeBlob, name: strings.Join(seg[:n-2], "/"), ref: seg[n-1]}
	default:
		return routed{}, newError(http.StatusNotFound, codeUnsupported, "no such endpoint")
	}
	if err := checkName(rt.name); err != nil {
		return routed{}, err
	}
	return rt, nil
}

// The distribution spec's grammar for repository names and tags.
var (
	nameRE = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$`)
	})
	tagRE = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`)
	})
	algorithmRE = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^[a-z0-9]+([+._-][a-z0-9]+)*$`)
	})
	encodedRE = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^[a-zA-Z0-9=_-]+$`)
	})
)

// maxNameLen is docker's registry's limit; the spec leaves it open.
const maxNameLen = 255

func checkName(name string) error {
	if name == "" || len(name) > maxNameLen || !nameRE().MatchString(name) {
		return newError(http.StatusBadRequest, codeNameInvalid, "invalid repository name").withDetail(map[string]string{"name": truncate(name)})
	}
	return nil
}

func checkTag(tag string) error {
	if !tagRE().MatchString(tag) {
		return newError(http.StatusBadRequest, codeManifestInvalid, "invalid tag").withDetail(map[string]string{"tag": truncate(tag)})
	}
	return nil
}

// parseDigest accepts sha256 digests; a well-formed digest of another
// algorithm is UNSUPPORTED, anything else DIGEST_INVALID.
func parseDigest(s string) (v1.Hash, error) {
	alg, enc, ok := strings.Cut(s, ":")
	if !ok || !algorithmRE().MatchString(alg) || !encodedRE().MatchString(enc) {
		return v1.Hash{}, newError(http.StatusBadRequest, codeDigestInvalid, "invalid digest").withDetail(map[string]string{"digest": truncate(s)})
	}
	if alg != "sha256" {
		return v1.Hash{}, newError(http.StatusBadRequest, codeUnsupported, "digest algorithm %q is not supported; use sha256", truncate(alg))
	}
	if len(enc) != 64 || strings.Trim(enc, "0123456789abcdef") != "" {
		return v1.Hash{}, newError(http.StatusBadRequest, codeDigestInvalid, "invalid sha256 digest").withDetail(map[string]string{"digest": truncate(s)})
	}
	return v1.Hash{Algorithm: alg, Hex: enc}, nil
}

// truncate keeps echoed client input short.
func truncate(s string) string {
	if len(s) > 300 {
		return s[:300] + "…"
	}
	return s
}

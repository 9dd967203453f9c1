package registry

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kumo-dev/kumo/runtime/image"
)

// blob serves HEAD and GET /v2/<name>/blobs/<digest>.
func (reg *Registry) blob(w http.ResponseWriter, r *http.Request, _, ref string) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		// Blobs are shared by every repository, so one repository cannot
		// delete them; GC does.
		return errMethod(r)
	}
	h, err := parseDigest(ref)
	if err != nil {
		return err
	}
	if r.Method == http.MethodHead {
		size, err := reg.store.BlobSize(r.Context(), h)
		if err != nil {
			return storeError(err, codeBlobUnknown)
		}
		blobHeaders(w, h, size)
		w.WriteHeader(http.StatusOK)
		return nil
	}
	rc, size, err := reg.store.OpenBlob(r.Context(), h)
	if err != nil {
		return storeError(err, codeBlobUnknown)
	}
	defer rc.Close()
	blobHeaders(w, h, size)
	// The store's reader verifies the digest only at the end, so each
	// chunk is held back until the next read succeeds: a corrupted blob
	// then never reaches the client whole, and the client sees a short
	// body instead of bad content with the right length.
	out := reg.progressWriter(w)
	buf, held := make([]byte, 256<<10), make([]byte, 0, 256<<10)
	for {
		n, rerr := rc.Read(buf)
		if rerr != nil && !errors.Is(rerr, io.EOF) {
			if !out.wrote {
				for _, k := range []string{"Content-Type", "Content-Length", "Docker-Content-Digest", "ETag"} {
					w.Header().Del(k)
				}
				return errInternal(fmt.Errorf("read blob %s: %w", h, rerr))
			}
			reg.log.ErrorContext(r.Context(), "registry blob download failed", "digest", h.String(), "error", rerr)
			panic(http.ErrAbortHandler) // the status line is gone; only cutting the connection is left
		}
		if len(held) > 0 {
			if _, err := out.Write(held); err != nil {
				return nil // the client went away
			}
		}
		buf, held = held[:cap(held)], buf[:n]
		if rerr != nil { // io.EOF: verified
			if _, err := out.Write(held); err != nil {
				return nil
			}
			// The next request on this connection gets no stale deadline.
			_ = out.rc.SetWriteDeadline(time.Time{})
			return nil
		}
	}
}

func blobHeaders(w http.ResponseWriter, h v1.Hash, size int64) {
	hd := w.Header()
	hd.Set("Content-Type", "application/octet-stream")
	hd.Set("Content-Length", strconv.FormatInt(size, 10))
	hd.Set("Docker-Content-Digest", h.String())
	hd.Set("ETag", `"`+h.String()+`"`)
}

// session is one chunked upload in progress.
type session struct {
	id   string
	repo string
	busy sync.Mutex // held by the request writing to it
	up   *image.Upload
	used time.Time // guarded by Registry.mu
}

// upload serves /v2/<name>/blobs/uploads/[<id>].
func (reg *Registry) upload(w http.ResponseWriter, r *http.Request, name, id string) error {
	if id == "" {
		if r.Method != http.MethodPost {
			return errMethod(r)
		}
		return reg.startUpload(w, r, name)
	}
	switch r.Method {
	case http.MethodGet, http.MethodPatch, http.MethodPut, http.MethodDelete:
	default:
		return errMethod(r)
	}
	s, err := reg.acquire(name, id)
	if err != nil {
		return err
	}
	if r.Method == http.MethodDelete {
		reg.finish(s)
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	defer reg.release(s)
	switch r.Method {
	case http.MethodGet:
		uploadHeaders(w, name, s)
		w.WriteHeader(http.StatusNoContent)
		return nil
	case http.MethodPatch:
		if err := reg.appendBody(w, r, s); err != nil {
			return reg.endIfTooLarge(s, err)
		}
		uploadHeaders(w, name, s)
		w.WriteHeader(http.StatusAccepted)
		return nil
	}
	// PUT ?digest=: the last chunk, if any, then the commit.
	h, err := digestParam(r)
	if err != nil {
		return err
	}
	if err := reg.appendBody(w, r, s); err != nil {
		return reg.endIfTooLarge(s, err)
	}
	if err := s.up.Commit(r.Context(), h); err != nil {
		if errors.Is(err, image.ErrDigestMismatch) {
			// Spec: the upload is over either way.
			reg.finishLocked(s)
		}
		return storeError(err, codeBlobUploadUnknown)
	}
	reg.finishLocked(s)
	created(w, name, h)
	return nil
}

// endIfTooLarge ends a held session whose blob went over the limit: it
// can never be committed, so its space is freed at once.
func (reg *Registry) endIfTooLarge(s *session, err error) error {
	var re *regError
	if errors.As(err, &re) && re.status == http.StatusRequestEntityTooLarge {
		reg.finishLocked(s)
	}
	return err
}

func digestParam(r *http.Request) (v1.Hash, error) {
	d := r.URL.Query().Get("digest")
	if d == "" {
		return v1.Hash{}, newError(http.StatusBadRequest, codeDigestInvalid, "digest query parameter required")
	}
	return parseDigest(d)
}

// created answers a finished blob upload.
func created(w http.ResponseWriter, name string, h v1.Hash) {
	hd := w.Header()
	hd.Set("Location", "/v2/"+name+"/blobs/"+h.String())
	hd.Set("Docker-Content-Digest", h.String())
	hd.Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
}

func uploadHeaders(w http.ResponseWriter, name string, s *session) {
	hd := w.Header()
	hd.Set("Location", "/v2/"+name+"/blobs/uploads/"+s.id)
	hd.Set("Docker-Upload-UUID", s.id)
	hd.Set("Range", "0-"+strconv.FormatInt(max(s.up.Size()-1, 0), 10))
	hd.Set("Content-Length", "0")
}

// startUpload serves POST /v2/<name>/blobs/uploads/: a mount, a monolithic
// upload (?digest=), or the start of a session.
func (reg *Registry) startUpload(w http.ResponseWriter, r *http.Request, name string) error {
	q := r.URL.Query()
	if m := q.Get("mount"); m != "" {
		h, err := parseDigest(m)
		if err != nil {
			return err
		}
		// Blobs are global, so any existing blob can be mounted; "from"
		// need not even name a repository that holds it.
		if _, err := reg.store.BlobSize(r.Context(), h); err == nil {
			created(w, name, h)
			return nil
		}
		// Spec: when the mount cannot be done, start an upload instead.
	}
	if d := q.Get("digest"); d != "" {
		h, err := parseDigest(d)
		if err != nil {
			return err
		}
		body, err := reg.limitBody(w, r, reg.maxBlob)
		if err != nil {
			return err
		}
		if err := reg.store.PutBlob(r.Context(), h, r.ContentLength, body); err != nil {
			return body.failure(err)
		}
		created(w, name, h)
		return nil
	}
	s, err := reg.newSession(r, name)
	if err != nil {
		return err
	}
	defer reg.release(s)
	uploadHeaders(w, name, s)
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// appendBody adds the request body to s, checking Content-Range when the
// client sent one.
func (reg *Registry) appendBody(w http.ResponseWriter, r *http.Request, s *session) error {
	size := s.up.Size()
	if cr := r.Header.Get("Content-Range"); cr != "" {
		start, end, ok := parseContentRange(cr)
		if !ok || start != size {
			return rangeError(s, "Content-Range %q does not continue the upload at byte %d", truncate(cr), size)
		}
		if r.ContentLength >= 0 && r.ContentLength != end-start+1 {
			return newError(http.StatusBadRequest, codeSizeInvalid, "Content-Length %d does not match Content-Range %q", r.ContentLength, truncate(cr))
		}
	}
	if r.ContentLength == 0 {
		return nil
	}
	body, err := reg.limitBody(w, r, reg.maxBlob-size)
	if err != nil {
		return err
	}
	if _, err := s.up.Append(r.Context(), body); err != nil {
		return body.failure(err)
	}
	return nil
}

// rangeError is 416 with the upload's state, so the client can resume.
func rangeError(s *session, format string, args ...any) error {
	e := newError(http.StatusRequestedRangeNotSatisfiable, codeBlobUploadInvalid, format, args...)
	return e.withDetail(map[string]string{"range": "0-" + strconv.FormatInt(max(s.up.Size()-1, 0), 10)})
}

// parseContentRange reads "<start>-<end>", optionally in the RFC 9110 form
// "bytes <start>-<end>/<total>" some clients send.
func parseContentRange(s string) (start, end int64, ok bool) {
	s = strings.TrimPrefix(s, "bytes ")
	s, _, _ = strings.Cut(s, "/")
	a, b, found := strings.Cut(s, "-")
	if !found {
		return 0, 0, false
	}
	start, err1 := strconv.ParseInt(a, 10, 64)
	end, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || start < 0 || end < start {
		return 0, 0, false
	}
	return start, end, true
}

// limitBody bounds the request body to limit bytes and to the idle
// timeout. A declared length over the limit is refused before anything is
// read.
func (reg *Registry) limitBody(w http.ResponseWriter, r *http.Request, limit int64) (*progressReader, error) {
	if limit <= 0 || r.ContentLength > limit {
		return nil, newError(http.StatusRequestEntityTooLarge, codeSizeInvalid,
			"blob would be larger than the %d-byte limit", reg.maxBlob)
	}
	return &progressReader{r: http.MaxBytesReader(w, r.Body, limit), rc: http.NewResponseController(w), idle: reg.idle}, nil
}

// progressReader pushes the connection's read deadline forward before each
// read: a body may take as long as it needs, but must keep moving. It
// remembers a failed read, so that the client's fault is told apart from
// the store's.
type progressReader struct {
	r    io.Reader
	rc   *http.ResponseController
	idle time.Duration
	err  error
}

func (p *progressReader) Read(b []byte) (int, error) {
	_ = p.rc.SetReadDeadline(time.Now().Add(p.idle))
	n, err := p.r.Read(b)
	switch {
	case errors.Is(err, io.EOF):
		// The server's own read of the connection (to notice the client
		// leaving) starts now and must not time out while the handler
		// finishes. After any other error the deadline stays, bounding
		// the server's discarding of the unread rest.
		_ = p.rc.SetReadDeadline(time.Time{})
	case err != nil:
		p.err = err
	}
	return n, err
}

// failure classifies err from storing the body.
func (p *progressReader) failure(err error) error {
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(p.err, &tooBig):
		return storeError(p.err, codeBlobUploadUnknown)
	case p.err != nil:
		return &regError{status: http.StatusBadRequest, code: codeBlobUploadInvalid, message: "could not read the request body", cause: p.err}
	}
	return storeError(err, codeBlobUploadUnknown)
}

// progressWriter is the same for a download.
func (reg *Registry) progressWriter(w http.ResponseWriter) *deadlineWriter {
	return &deadlineWriter{w: w, rc: http.NewResponseController(w), idle: reg.idle}
}

type deadlineWriter struct {
	w     io.Writer
	rc    *http.ResponseController
	idle  time.Duration
	wrote bool
}

func (d *deadlineWriter) Write(b []byte) (int, error) {
	_ = d.rc.SetWriteDeadline(time.Now().Add(d.idle))
	d.wrote = true
	return d.w.Write(b)
}

// newSession starts an upload session, first dropping sessions idle for
// longer than the TTL. It returns the session held, as acquire does.
func (reg *Registry) newSession(r *http.Request, name string) (*session, error) {
	reg.sweep()
	var b [16]byte
	_, _ = rand.Read(b[:])
	s := &session{id: hex.EncodeToString(b[:]), repo: name}
	reg.mu.Lock()
	if len(reg.uploads) >= reg.maxUploads {
		reg.mu.Unlock()
		return nil, newError(http.StatusTooManyRequests, codeTooManyRequests, "too many uploads in progress")
	}
	up, err := reg.store.NewUpload(r.Context())
	if err != nil {
		reg.mu.Unlock()
		return nil, errInternal(err)
	}
	s.up = up
	s.busy.Lock()
	s.used = reg.now()
	reg.uploads[s.id] = s
	reg.mu.Unlock()
	return s, nil
}

// acquire finds upload id of repo name and holds it for one request.
// Requests to one upload do not run concurrently: a second one finds it
// busy and gets 416, which tells the client to ask where the upload is.
func (reg *Registry) acquire(name, id string) (*session, error) {
	reg.mu.Lock()
	s := reg.uploads[id]
	reg.mu.Unlock()
	if s == nil || s.repo != name {
		return nil, newError(http.StatusNotFound, codeBlobUploadUnknown, "upload unknown").withDetail(map[string]string{"uuid": truncate(id)})
	}
	if !s.busy.TryLock() {
		return nil, newError(http.StatusRequestedRangeNotSatisfiable, codeBlobUploadInvalid, "another request is writing to this upload")
	}
	reg.mu.Lock()
	defer reg.mu.Unlock()
	if reg.uploads[id] != s { // finished while we were getting it
		s.busy.Unlock()
		return nil, newError(http.StatusNotFound, codeBlobUploadUnknown, "upload unknown").withDetail(map[string]string{"uuid": truncate(id)})
	}
	return s, nil
}

func (reg *Registry) release(s *session) {
	reg.mu.Lock()
	s.used = reg.now()
	reg.mu.Unlock()
	s.busy.Unlock()
}

// finish ends a held session and releases it.
func (reg *Registry) finish(s *session) {
	reg.finishLocked(s)
	s.busy.Unlock()
}

// finishLocked ends a held session; the caller still releases it.
func (reg *Registry) finishLocked(s *session) {
	reg.mu.Lock()
	if reg.uploads[s.id] == s {
		delete(reg.uploads, s.id)
	}
	reg.mu.Unlock()
	if err := s.up.Abort(); err != nil {
		reg.log.Warn("registry: discard upload", "uuid", s.id, "error", err)
	}
}

// sweep drops sessions nobody used within the TTL.
func (reg *Registry) sweep() {
	cutoff := reg.now().Add(-reg.uploadTTL)
	var stale []*session
	reg.mu.Lock()
	for id, s := range reg.uploads {
		if s.used.Before(cutoff) && s.busy.TryLock() {
			delete(reg.uploads, id)
			stale = append(stale, s)
		}
	}
	reg.mu.Unlock()
	for _, s := range stale {
		if err := s.up.Abort(); err != nil {
			reg.log.Warn("registry: discard upload", "uuid", s.id, "error", err)
		}
		s.busy.Unlock()
	}
}

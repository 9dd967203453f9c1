package registry

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/kumo-dev/kumo/runtime/image"
)

// manifest serves /v2/<name>/manifests/<reference>.
func (reg *Registry) manifest(w http.ResponseWriter, r *http.Request, name, ref string) error {
	var digest *v1.Hash
	if strings.Contains(ref, ":") {
		h, err := parseDigest(ref)
		if err != nil {
			return err
		}
		digest = &h
	} else if err := checkTag(ref); err != nil {
		return err
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		raw, desc, err := reg.store.Manifest(r.Context(), name, ref)
		if err != nil {
			return storeError(err, codeManifestUnknown)
		}
		hd := w.Header()
		hd.Set("Content-Type", string(desc.MediaType))
		hd.Set("Content-Length", strconv.Itoa(len(raw)))
		hd.Set("Docker-Content-Digest", desc.Digest.String())
		hd.Set("ETag", `"`+desc.Digest.String()+`"`)
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			_, _ = w.Write(raw)
		}
		return nil
	case http.MethodPut:
		return reg.putManifest(w, r, name, ref, digest)
	case http.MethodDelete:
		if err := reg.store.DeleteManifest(r.Context(), name, ref); err != nil {
			return storeError(err, codeManifestUnknown)
		}
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusAccepted)
		return nil
	}
	return errMethod(r)
}

func (reg *Registry) putManifest(w http.ResponseWriter, r *http.Request, name, ref string, digest *v1.Hash) error {
	if r.ContentLength > image.MaxManifestBytes {
		return newError(http.StatusRequestEntityTooLarge, codeSizeInvalid, "manifest larger than %d bytes", image.MaxManifestBytes)
	}
	body, err := reg.limitBody(w, r, image.MaxManifestBytes)
	if err != nil {
		return err
	}
	raw, err := io.ReadAll(body)
	if err != nil {
		return body.failure(err)
	}
	mt, err := manifestType(r.Header.Get("Content-Type"), raw)
	if err != nil {
		return err
	}
	tag := ref
	if digest != nil {
		tag = ""
		if sum := sha256.Sum256(raw); hex.EncodeToString(sum[:]) != digest.Hex {
			return newError(http.StatusBadRequest, codeDigestInvalid, "manifest digest is sha256:%x, not %s", sum, digest)
		}
	}
	desc, err := reg.store.PutManifest(r.Context(), name, tag, raw, mt)
	if err != nil {
		return storeError(err, codeManifestBlobUnknown)
	}
	hd := w.Header()
	hd.Set("Location", "/v2/"+name+"/manifests/"+desc.Digest.String())
	hd.Set("Docker-Content-Digest", desc.Digest.String())
	hd.Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
	return nil
}

// manifestType is the Content-Type the client sent, or else the mediaType
// member of the manifest.
func manifestType(contentType string, raw []byte) (types.MediaType, error) {
	ct, _, _ := strings.Cut(contentType, ";")
	mt := types.MediaType(strings.TrimSpace(ct))
	if mt == "" || mt == "application/json" || mt == "application/octet-stream" {
		var doc struct {
			MediaType types.MediaType `json:"mediaType"`
		}
		if err := json.Unmarshal(raw, &doc); err != nil {
			return "", newError(http.StatusBadRequest, codeManifestInvalid, "manifest is not valid JSON")
		}
		mt = doc.MediaType
	}
	if mt == "" {
		return "", newError(http.StatusBadRequest, codeManifestInvalid, "manifest media type missing: set Content-Type")
	}
	return mt, nil
}

// tags serves GET /v2/<name>/tags/list[?n=&last=].
func (reg *Registry) tags(w http.ResponseWriter, r *http.Request, name string) error {
	tags, err := reg.store.Tags(r.Context(), name)
	if err != nil {
		return errInternal(err)
	}
	if len(tags) == 0 {
		ok, err := reg.store.HasRepository(r.Context(), name)
		if err != nil {
			return errInternal(err)
		}
		if !ok {
			return newError(http.StatusNotFound, codeNameUnknown, "repository not known to the registry").withDetail(map[string]string{"name": name})
		}
	}
	page, next, err := paginate(r, tags)
	if err != nil {
		return err
	}
	if next != "" {
		w.Header().Set("Link", linkNext("/v2/"+name+"/tags/list", page.n, next))
	}
	return writeJSON(w, struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}{name, page.items})
}

// catalog serves GET /v2/_catalog[?n=&last=].
func (reg *Registry) catalog(w http.ResponseWriter, r *http.Request) error {
	repos, err := reg.store.Repositories(r.Context())
	if err != nil {
		return errInternal(err)
	}
	page, next, err := paginate(r, repos)
	if err != nil {
		return err
	}
	if next != "" {
		w.Header().Set("Link", linkNext("/v2/_catalog", page.n, next))
	}
	return writeJSON(w, struct {
		Repositories []string `json:"repositories"`
	}{page.items})
}

// maxPage bounds one page of a listing whatever n asks for.
const maxPage = 1000

type pageOf struct {
	items []string
	n     int
}

// paginate applies the spec's n (page size) and last (exclusive lower
// bound) to a sorted list; next is the last item returned when more follow.
func paginate(r *http.Request, sorted []string) (page pageOf, next string, err error) {
	q := r.URL.Query()
	n := maxPage
	if s := q.Get("n"); s != "" {
		v, perr := strconv.Atoi(s)
		if perr != nil || v < 0 {
			return pageOf{}, "", newError(http.StatusBadRequest, codePaginationInvalid, "n must be a non-negative integer")
		}
		n = min(v, maxPage)
	}
	if last := q.Get("last"); last != "" {
		i, found := slices.BinarySearch(sorted, last)
		if found {
			i++
		}
		sorted = sorted[i:]
	}
	items := sorted[:min(n, len(sorted))]
	if len(items) < len(sorted) && len(items) > 0 {
		next = items[len(items)-1]
	}
	return pageOf{items: append([]string{}, items...), n: n}, next, nil
}

func linkNext(path string, n int, last string) string {
	q := url.Values{"n": {strconv.Itoa(n)}, "last": {last}}
	return "<" + path + "?" + q.Encode() + `>; rel="next"`
}

func writeJSON(w http.ResponseWriter, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return errInternal(err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
	return nil
}

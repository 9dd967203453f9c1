package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// GCStats is what one image garbage collection removed.
type GCStats struct {
	Blobs      int   `json:"blobs"`
	BlobBytes  int64 `json:"blobBytes"`
	Layers     int   `json:"layers"`
	Kept       int   `json:"kept"`
	Images     int   `json:"images"`
	GraceSkips int   `json:"graceSkips"`
}

// CollectGarbage asks the host to remove the images, blobs and unpacked
// layers nothing live needs. A nil grace uses the host's default grace
// period; a shorter one also removes what was written more recently.
func (c *Client) CollectGarbage(ctx context.Context, grace *time.Duration) (GCStats, error) {
	var stats GCStats
	q := url.Values{}
	if grace != nil {
		q.Set("grace", grace.String())
	}
	err := c.call(ctx, http.MethodPost, "/kumo/v1/gc?"+q.Encode(), nil, &stats)
	return stats, err
}

// call sends a signed request to a kumo extension endpoint and decodes its
// JSON answer into out.
func (c *Client) call(ctx context.Context, method, path string, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.endpoint+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if err := c.sign(ctx, req, body); err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return apiError(resp)
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}

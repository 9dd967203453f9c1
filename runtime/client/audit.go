package client

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// AuditRecord is one control-plane call recorded by the host.
type AuditRecord struct {
	Seq        uint64    `json:"seq"`
	Time       time.Time `json:"time"`
	RequestID  string    `json:"requestId"`
	Principal  string    `json:"principal"`
	Source     string    `json:"source"`
	Operation  string    `json:"operation"`
	Method     string    `json:"method"`
	Path       string    `json:"path"`
	Function   string    `json:"function,omitempty"`
	Status     int       `json:"status"`
	ErrorCode  string    `json:"errorCode,omitempty"`
	DurationMs int64     `json:"durationMs"`
}

// Audit calls fn for each audit record after sequence after, oldest first;
// with follow it keeps waiting for new records until ctx ends.
func (c *Client) Audit(ctx context.Context, after uint64, follow bool, fn func(AuditRecord) error) error {
	q := url.Values{}
	q.Set("after", strconv.FormatUint(after, 10))
	if follow {
		q.Set("follow", "true")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.endpoint+"/kumo/v1/audit?"+q.Encode(), nil)
	if err != nil {
		return fmt.Errorf("build audit request: %w", err)
	}
	if err := c.sign(ctx, req, nil); err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("get audit log: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return apiError(resp)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		var rec AuditRecord
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			return fmt.Errorf("decode audit record: %w", err)
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return fmt.Errorf("read audit log: %w", err)
	}
	return nil
}

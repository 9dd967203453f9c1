// Package server is kumo's HTTP adapter: it speaks the Lambda REST API
// (2015-03-31) and kumo's extension API under /kumo/v1/, verifies SigV4 on
// every request and maps kumo's errors to Lambda's error protocol in one
// place.
package server

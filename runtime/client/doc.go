// Package client is kumo's Go SDK: an aws-sdk-go-v2 Lambda client pointed
// at a kumo host, plus the calls of kumo's extension API under /kumo/v1/.
package client

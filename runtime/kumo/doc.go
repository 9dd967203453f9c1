// Package kumo holds the contract shared by every part of kumo: the stored
// shape of a function, ARNs, limits and the sentinel errors that the HTTP
// server maps to Lambda's error names. It imports only the standard library.
package kumo

// Package auth owns the host's API credentials and the verification of
// AWS Signature Version 4 on every Lambda API request.
//
// A host has one key pair, kept in an AWS shared-credentials file (profile
// "kumo") so the aws CLI and SDKs can use it unchanged. Verification
// recomputes the signature with aws-sdk-go-v2's own signer over exactly
// what the client signed, rather than reimplementing canonicalisation, so
// kumo agrees with the SDKs byte for byte.
package auth

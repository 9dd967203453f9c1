// Package runtimeapi owns the Lambda Runtime API as served to one sandbox:
// handing events to the function's runtime over the /next long-poll and
// collecting its response, error or init failure, wire-compatible with
// aws-lambda-go and the Runtime Interface Emulator.
package runtimeapi

//go:build !linux

package e2e

func cleanupShared() bool { return true }

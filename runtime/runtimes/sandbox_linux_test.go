package runtimes_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/kumo-dev/kumo/runtime/image"
	"github.com/kumo-dev/kumo/runtime/internal/sandbox"
	"github.com/kumo-dev/kumo/runtime/runtimes"
)

// The test binary is re-executed as libcontainer's init for every sandbox.
func init() { sandbox.Init() }

// imageRoot mounts img's layers as a read-only overlay, the way a host
// composes a sandbox's root.
func imageRoot(t *testing.T, store *image.Store, img v1.Image) string {
	t.Helper()
	d, err := img.Digest()
	require.NoError(t, err)
	dirs, err := store.Unpack(t.Context(), d)
	require.NoError(t, err)
	lower := make([]string, len(dirs))
	for i, dir := range dirs {
		lower[len(dirs)-1-i] = dir // overlayfs lists the top layer first
	}
	root := t.TempDir()
	require.NoError(t, os.Chmod(root, 0o755))
	require.NoError(t, unix.Mount("overlay", root, "overlay", unix.MS_RDONLY|unix.MS_NODEV|unix.MS_NOSUID, "lowerdir="+strings.Join(lower, ":")))
	t.Cleanup(func() { _ = unix.Unmount(root, unix.MNT_DETACH) })
	return root
}

var sandboxSeq atomic.Int64

// runInSandbox runs argv in a real sandbox (read-only root, uid 993,
// no network, seccomp where built with it) on root, with env, and returns
// its output once it exits.
func runInSandbox(t *testing.T, m *sandbox.Manager, root string, env []string, task string, argv ...string) string {
	t.Helper()
	out := &syncBuffer{}
	cfg := sandbox.Config{
		ID:          fmt.Sprintf("rt-%d", sandboxSeq.Add(1)),
		Rootfs:      root,
		Args:        argv,
		Env:         env,
		MemoryMB:    512,
		EphemeralMB: 64,
		Stdout:      out,
		Stderr:      out,
	}
	if task != "" {
		cfg.Mounts = []sandbox.Mount{{Source: task, Destination: "/var/task"}}
	}
	sb, err := m.Create(t.Context(), cfg)
	require.NoError(t, err)
	defer sb.Destroy()
	select {
	case <-sb.Exited():
	case <-time.After(60 * time.Second):
		t.Fatalf("%v did not exit; output so far:\n%s", argv, out)
	}
	require.NoError(t, sb.ExitErr(), "%v:\n%s", argv, out)
	return out.String()
}

// TestRootRuntimesRunInSandbox proves each recipe's package list complete:
// every runtime's interpreter starts in a real sandbox from nothing but
// its image and loads the native modules the packages carry.
func TestRootRuntimesRunInSandbox(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: starts sandboxes")
	}
	requireDpkg(t)
	b, store, _ := newBuilder(t)
	m, err := sandbox.New(t.TempDir(), sandbox.WithCgroupPrefix(fmt.Sprintf("kumotest-runtimes-%d", os.Getpid())))
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, m.Close()) })

	// A dynamically linked C++ program: libc, libgcc_s and libstdc++.
	task := t.TempDir()
	require.NoError(t, os.Chmod(task, 0o755))
	src := filepath.Join(task, "probe.cc")
	require.NoError(t, os.WriteFile(src, []byte(`#include <gnu/libc-version.h>
#include <iostream>
#include <stdexcept>
int main() {
  try { throw std::runtime_error("unwound"); }
  catch (const std::exception &e) { std::cout << "glibc " << gnu_get_libc_version() << " " << e.what() << std::endl; }
}
`), 0o644))
	if out, err := exec.Command("g++", "-O1", "-o", filepath.Join(task, "probe"), src).CombinedOutput(); err != nil {
		t.Fatalf("g++: %v\n%s", err, out)
	}
	ldd, err := exec.Command("ldd", filepath.Join(task, "probe")).CombinedOutput()
	require.NoError(t, err)
	require.Contains(t, string(ldd), "libstdc++.so.6", "the probe must be dynamically linked")

	python := `
import ssl, sqlite3, ctypes, bz2, lzma, zlib, uuid, readline, _dbm, curses, pyexpat, hashlib, decimal, json, subprocess, time
import warnings; warnings.simplefilter("ignore")
import nis, crypt
print("cas", ssl.create_default_context().cert_store_stats()["x509_ca"] > 0)
print("sh", subprocess.run("echo $((6*7))", shell=True, capture_output=True, text=True).stdout.strip())
print("tz", time.strftime("%Z"))
print("ok", sqlite3.sqlite_version)
import os, importlib.util
# Bytecode from the image, not compiled at every start (bytecode.go).
print("pyc", all(os.path.exists(m.__cached__) for m in (json, ssl, subprocess, decimal)),
      open(json.__cached__, "rb").read(8)[4:8] == b"\x01\x00\x00\x00")
`
	node := `
const cp = require("child_process");
console.log("sh", cp.execSync("echo $((6*7))").toString().trim());
console.log("cas", require("tls").rootCertificates.length > 0);
console.log("ok", process.version, require("zlib").gzipSync("x").length > 0);
`
	ruby := `
require "openssl"; require "json"; require "yaml"; require "zlib"; require "socket"; require "bigdecimal"; require "fiddle"; require "etc"
puts "cas #{File.exist?(OpenSSL::X509::DEFAULT_CERT_FILE)}"
puts "sh #{` + "`echo $((6*7))`" + `.strip}"
puts "gems #{Gem::VERSION}"
puts "ok #{RUBY_VERSION} #{2**100}"
`
	java := "/usr/lib/jvm/java-17-openjdk-amd64/bin/"
	cases := []struct {
		runtime string
		argv    []string
		want    []string
	}{
		{"python3.11", []string{"/usr/bin/python3.11", "-c", python}, []string{"cas True", "sh 42", "tz UTC", "ok 3.", "pyc True True"}},
		{"nodejs20.x", []string{"/usr/bin/node", "-e", node}, []string{"sh 42", "cas true", "ok v20.", " true"}},
		{"ruby3.1", []string{"/usr/bin/ruby3.1", "-e", ruby}, []string{"cas true", "sh 42", "gems 3.", "ok 3.1.", "1267650600228229401496703205376"}},
		{"java17", []string{"/bin/sh", "-c", "java -version && " + java + "keytool -list -cacerts -storepass changeit"}, []string{`openjdk version "17.`, "Your keystore contains"}},
		{"provided.al2023", []string{"/var/task/probe"}, []string{"glibc 2.", "unwound"}},
		{"provided.al2", []string{"/bin/sh", "-c", "exec /var/task/probe"}, []string{"glibc 2.", "unwound"}},
	}
	for _, tc := range cases {
		t.Run(tc.runtime, func(t *testing.T) {
			began := time.Now()
			img, err := b.BaseImage(t.Context(), tc.runtime)
			require.NoError(t, err)
			t.Logf("%s: image built in %s", tc.runtime, time.Since(began).Round(time.Millisecond))
			cfg, err := img.ConfigFile()
			require.NoError(t, err)
			root := imageRoot(t, store, img)
			out := runInSandbox(t, m, root, cfg.Config.Env, task, tc.argv...)
			for _, w := range tc.want {
				assert.Contains(t, out, w)
			}
			if entry := cfg.Config.Entrypoint; len(entry) > 0 {
				// The entrypoint's program is in the image.
				_, err := os.Stat(filepath.Join(root, entry[0]))
				assert.NoError(t, err, entry[0])
			}
		})
	}
	_ = runtimes.Supported
}

package ctrtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// tools are the programs the harness runs.
type tools struct {
	containerd, shim, ctr, runc string
	cniDir                      string // holds the bridge, host-local and loopback plugins
	busybox                     string
}

// cacheDir is where `make tools-test` unpacks Debian's containerd, runc,
// containernetworking-plugins and busybox-static (.ci/deb-extract: not installed, no service
// started): .cache/ctrtest in the repository, one directory per package with the package's
// own paths below it. Found from this file's path, so `go test` needs no environment.
func cacheDir() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok || !filepath.IsAbs(file) {
		return "" // built with -trimpath: only the host's programs
	}
	return filepath.Join(filepath.Dir(file), "..", "..", ".cache", "ctrtest")
}

// findTools looks in the cache first, then on the host (PATH, /usr/lib/cni, /bin/busybox), and
// skips the test, saying what is missing, when a program is in neither.
func findTools(t testing.TB) tools {
	t.Helper()
	cache := cacheDir()
	const hint = "make tools-test unpacks Debian's containerd, runc, containernetworking-plugins and busybox-static into .cache/ctrtest, installing nothing"
	find := func(pkg, rel string) string {
		if cache != "" {
			p := filepath.Join(cache, pkg, rel)
			if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
				return p
			}
		}
		if p, err := exec.LookPath(filepath.Base(rel)); err == nil {
			return p
		}
		if _, err := os.Stat("/" + rel); err == nil {
			return "/" + rel
		}
		t.Skipf("containerd test needs %s (Debian package %s): %s", filepath.Base(rel), pkg, hint)
		return ""
	}
	var tl tools
	tl.containerd = find("containerd", "usr/bin/containerd")
	tl.shim = find("containerd", "usr/bin/containerd-shim-runc-v2")
	tl.ctr = find("containerd", "usr/bin/ctr")
	tl.runc = find("runc", "usr/sbin/runc")
	tl.cniDir = filepath.Dir(find("containernetworking-plugins", "usr/lib/cni/bridge"))
	for _, p := range []string{"host-local", "loopback"} {
		if _, err := os.Stat(filepath.Join(tl.cniDir, p)); err != nil {
			t.Skipf("containerd test needs the CNI plugin %s next to %s/bridge: %s", p, tl.cniDir, hint)
		}
	}
	tl.busybox = find("busybox-static", "bin/busybox")
	return tl
}

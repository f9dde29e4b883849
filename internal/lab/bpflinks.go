package lab

import (
	"os"
	"path/filepath"
	"testing"
)

// BPFLinkFDs counts the bpf_link descriptors this process holds: what attaching made and
// detaching must release.
func BPFLinkFDs(t testing.TB) int {
	t.Helper()
	fds, err := filepath.Glob("/proc/self/fd/*")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, fd := range fds {
		if dst, err := os.Readlink(fd); err == nil && dst == "anon_inode:bpf_link" {
			n++
		}
	}
	return n
}

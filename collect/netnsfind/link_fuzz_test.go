package netnsfind

import (
	"strconv"
	"strings"
	"testing"
)

// FuzzLinkInode: an accepted /proc/PID/ns/net target is "net:[N]" with N the decimal inode,
// exactly as strconv reads it.
func FuzzLinkInode(f *testing.F) {
	for _, s := range []string{"net:[4026531840]", "net:[1]", "net:[18446744073709551615]", "mnt:[4026531841]"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ino, ok := linkInode(b)
		if !ok {
			return
		}
		digits, found := strings.CutPrefix(string(b), "net:[")
		digits, closed := strings.CutSuffix(digits, "]")
		want, err := strconv.ParseUint(digits, 10, 64)
		if !found || !closed || err != nil || want != ino || ino == 0 {
			t.Fatalf("%q read as %d, strconv says %d, %v", b, ino, want, err)
		}
	})
}

package owner

import (
	"strconv"
	"strings"
	"testing"
)

// FuzzSocketInode: an accepted descriptor link is "socket:[N]" with N the decimal inode.
func FuzzSocketInode(f *testing.F) {
	for _, s := range []string{"socket:[473686]", "socket:[]", "pipe:[1234]", "/dev/null", "socket:[18446744073709551615]"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ino, ok := socketInode(b)
		if !ok {
			return
		}
		digits, found := strings.CutPrefix(string(b), "socket:[")
		digits, closed := strings.CutSuffix(digits, "]")
		want, err := strconv.ParseUint(digits, 10, 64)
		if !found || !closed || err != nil || want != ino {
			t.Fatalf("%q read as %d, strconv says %d, %v", b, ino, want, err)
		}
		if again, ok := socketInode([]byte("socket:[" + strconv.FormatUint(ino, 10) + "]")); !ok || again != ino {
			t.Fatalf("inode %d printed reads %d, %v", ino, again, ok)
		}
	})
}

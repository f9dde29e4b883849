package netnsfind

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func writeFile(t testing.TB, path, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestParseMountinfoFixture(t *testing.T) {
	f, err := os.Open("testdata/mountinfo-6.18")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := ParseMountinfo(f)
	if err != nil {
		t.Fatal(err)
	}
	want := []Mount{
		{"/run/netns/bpfS543ddb", 4, 4026532174},
		{"/run/netns/bpfS543ddb", 4, 4026532174},
		{"/run/netns/sp ace", 4, 4026533239},
		{"/run/netns/fixa", 4, 4026533304},
		{"/run/docker/netns/0f2a7c1d3e4b", 4, 4026533370},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("mounts (-want +got):\n%s", diff)
	}
}

func TestParseMountinfoLines(t *testing.T) {
	for _, tc := range []struct {
		line string
		want []Mount
		err  bool
	}{
		{line: `1 2 0:4 net:[7] /a\134b\011c rw shared:1 master:2 - nsfs nsfs rw`, want: []Mount{{"/a\\b\tc", 4, 7}}},
		{line: `1 2 259:3 net:[7] /x rw - nsfs nsfs rw`, want: []Mount{{"/x", 259<<8 | 3, 7}}},
		{line: `1 2 0:4 mnt:[7] /x rw - nsfs nsfs rw`},
		{line: `1 2 0:50 / /mnt\040nsfs rw - tmpfs nsfs rw`},
		{line: `1 2 0:4 net:[7] /x rw nsfs nsfs rw`, err: true},
		{line: `1 2 0:4 net:[7] /x nsfs -`, err: true},
		{line: `1 2 0:4 net:[x] /x rw - nsfs nsfs rw`, err: true},
		{line: `1 2 0:4 net:[7 /x rw - nsfs nsfs rw`, err: true},
		{line: `1 2 04 net:[7] /x rw - nsfs nsfs rw`, err: true},
		{line: `1 2 0:4 net:[7] /x\04 rw - nsfs nsfs rw`, err: true},
		{line: `1 2 0:4 net:[7] /x\999 rw - nsfs nsfs rw`, err: true},
	} {
		got, err := ParseMountinfo(strings.NewReader(tc.line + "\n"))
		if (err != nil) != tc.err {
			t.Errorf("%q: error %v, want error %t", tc.line, err, tc.err)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%q (-want +got):\n%s", tc.line, diff)
		}
	}
}

func FuzzParseMountinfo(f *testing.F) {
	b, err := os.ReadFile("testdata/mountinfo-6.18")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(b))
	f.Add(`1 2 0:4 net:[7] /a\134b\011c rw shared:1 - nsfs nsfs rw`)
	f.Add(`1 2 0:4 net:[7] \ - nsfs nsfs rw`)
	f.Fuzz(func(t *testing.T, s string) {
		mounts, err := ParseMountinfo(strings.NewReader(s))
		if err != nil {
			return
		}
		for _, m := range mounts {
			if m.Ino == 0 || m.Path == "" {
				t.Errorf("mount %+v from %q", m, s)
			}
		}
	})
}

package vm

import (
	"debug/elf"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestLibraryPathFixture(t *testing.T) {
	// testdata/ldconf/etc is a copy of a Debian 12 amd64 host's ld.so.conf and ld.so.conf.d.
	got, err := LibraryPath("testdata/ldconf")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"/usr/lib/x86_64-linux-gnu/libfakeroot", // the included files, in name order
		"/usr/local/lib",
		"/usr/local/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu",
		"/lib32", "/usr/lib32",
		"/lib64", "/usr/lib64", "/lib", "/usr/lib",
	}
	if !slices.Equal(got, want) {
		t.Errorf("library path\n%q\nwant\n%q", got, want)
	}
}

func TestLibraryPathIncludes(t *testing.T) {
	root := t.TempDir()
	write := func(name, content string) {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A relative include is relative to the including file; an include loop ends; a
	// directory listed twice is searched once.
	write("etc/ld.so.conf", "/opt/a/lib # comment\n\ninclude conf.d/*.conf\nhwcap 0 nosegneg\n/usr/lib\n")
	write("etc/conf.d/1.conf", "  /opt/b/lib  \ninclude /etc/ld.so.conf\n")
	got, err := LibraryPath(root)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/opt/a/lib", "/usr/lib", "/opt/b/lib", "/lib64", "/usr/lib64", "/lib"}
	if !slices.Equal(got, want) {
		t.Errorf("library path %q, want %q", got, want)
	}
	if got, err := LibraryPath(t.TempDir()); err != nil || !slices.Equal(got, systemLibDirs) {
		t.Errorf("without ld.so.conf: %q, %v; want the system directories", got, err)
	}
}

// hostNft is a real dynamically linked program with libraries of libraries (libnftables
// needs libnftnl and libmnl, which nft does not name itself).
func hostNft(t *testing.T) string {
	const nft = "/usr/sbin/nft"
	if _, err := os.Stat(nft); err != nil {
		t.Skip("nft not installed (make deps-test installs nftables)")
	}
	return nft
}

func TestSharedLibrariesOfNft(t *testing.T) {
	nft := hostNft(t)
	libPath, err := LibraryPath("/")
	if err != nil {
		t.Fatal(err)
	}
	deps, err := SharedLibraries(nft, libPath)
	if err != nil {
		t.Fatal(err)
	}
	libs := deps.Libraries
	f, err := elf.Open(nft)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	direct, err := f.ImportedLibraries()
	if err != nil {
		t.Fatal(err)
	}
	if deps.Loader != "/lib64/ld-linux-x86-64.so.2" {
		t.Errorf("loader %q, want nft's PT_INTERP", deps.Loader)
	}
	names := map[string]int{}
	for _, l := range libs {
		names[filepath.Base(l)]++
		if !filepath.IsAbs(l) {
			t.Errorf("%s is not a host path", l)
		}
		if _, err := os.Stat(l); err != nil {
			t.Error(err)
		}
	}
	for _, want := range append(direct, "libnftnl.so.11", "libmnl.so.0") {
		if names[want] != 1 {
			t.Errorf("%s found %d times in %q", want, names[want], libs)
		}
	}
	if slices.Contains(direct, "libmnl.so.0") {
		t.Error("libmnl is a direct dependency here: the test no longer proves recursion")
	}
	if names["ld-linux-x86-64.so.2"] != 0 {
		t.Errorf("libc's DT_NEEDED on the loader is the loader itself, not a second copy: %q", libs)
	}
}

func TestSharedLibrariesNotFound(t *testing.T) {
	nft := hostNft(t)
	_, err := SharedLibraries(nft, []string{t.TempDir()})
	if !errors.Is(err, ErrLibraryNotFound) {
		t.Errorf("libraries searched only in an empty directory: %v, want ErrLibraryNotFound", err)
	}
}

func TestSharedLibrariesStatic(t *testing.T) {
	const busybox = "/bin/busybox" // busybox-static, which the kernel matrix installs
	f, err := elf.Open(busybox)
	if err != nil {
		t.Skip("no /bin/busybox")
	}
	defer f.Close()
	if slices.ContainsFunc(f.Progs, func(p *elf.Prog) bool { return p.Type == elf.PT_INTERP }) {
		t.Skip("/bin/busybox is dynamically linked (busybox, not busybox-static)")
	}
	deps, err := SharedLibraries(busybox, nil)
	if err != nil || deps.Loader != "" || len(deps.Libraries) != 0 {
		t.Errorf("a static program needs %+v, %v; want nothing", deps, err)
	}
	if _, err := SharedLibraries("testdata/ldconf/etc/ld.so.conf", nil); err == nil {
		t.Error("a file that is not ELF must fail")
	}
}

package ctrtest

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// applets the image links to busybox; a process started through a link has the applet's
// name as its comm.
var applets = []string{"sh", "sleep", "httpd", "nc", "cat", "ls"}

// staticBusybox returns busybox's bytes, skipping the test when it is missing or dynamically
// linked (it must run in an image with nothing else in it).
func staticBusybox(t testing.TB, busyboxPath string) []byte {
	t.Helper()
	b, err := os.ReadFile(busyboxPath)
	if err != nil {
		t.Skipf("containerd test needs a static busybox (Debian: busybox-static): %v", err)
	}
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		t.Skipf("%s: %v", busyboxPath, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Skipf("%s is dynamically linked (Debian: install busybox-static)", busyboxPath)
		}
	}
	return b
}

// busyboxImage is a one-layer image: /bin/busybox, its applet links, and the directories
// runc and the CRI plugin mount over.
func busyboxImage(t testing.TB, busybox []byte) v1.Image {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(h *tar.Header, body []byte) {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(body); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"bin", "dev", "etc", "proc", "sys", "tmp", "var", "www"} {
		add(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755}, nil)
	}
	add(&tar.Header{Typeflag: tar.TypeReg, Name: "bin/busybox", Mode: 0o755, Size: int64(len(busybox))}, busybox)
	for _, a := range applets {
		add(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + a, Linkname: "busybox", Mode: 0o777}, nil)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	layer, err := tarball.LayerFromReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	cf.Config.Env = []string{"PATH=/bin"}
	cf.Config.Cmd = []string{"/bin/sleep", "inf"}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// importImage writes Image as a docker-archive tarball and imports it with ctr into the
// CRI plugin's containerd namespace, unpacked for the configured snapshotter.
func (c *Containerd) importImage(t testing.TB, busybox []byte) {
	t.Helper()
	ref, err := name.NewTag(Image)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(c.Dir, "busybox.tar")
	if err := tarball.WriteToFile(file, ref, busyboxImage(t, busybox)); err != nil {
		t.Fatalf("write image: %v", err)
	}
	out, err := exec.Command(c.tools.ctr, "--address", c.Socket, "--namespace", "k8s.io", "images", "import", "--snapshotter", c.snapshotter, file).CombinedOutput()
	if err != nil {
		t.Fatalf("ctr images import: %v\n%s\n%s", err, out, c.logTail())
	}
}

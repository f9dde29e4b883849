package main

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

func TestImageTag(t *testing.T) {
	for in, want := range map[string]string{
		"v1.2.3": "v1.2.3", "(devel)": "dev", "": "dev",
		"v0.0.0-20260301120000-8c8ffbec8e9a+dirty": "v0.0.0-20260301120000-8c8ffbec8e9a-dirty",
	} {
		if got := imageTag(in); got != want {
			t.Errorf("imageTag(%q) = %q, want %q", in, got, want)
		}
	}
}

// staticNettune builds nettune as `make build` does.
func staticNettune(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds nettune")
	}
	bin := filepath.Join(t.TempDir(), "nettune")
	cmd := exec.Command("go", "-C", "../../..", "build", "-o", bin, "./cmd/nettune")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestImageArchive: two builds are the same bytes; the archive is a valid OCI layout (every
// blob's digest checked) whose one image runs /nettune, holds exactly the binary, and is named
// for containerd's import.
func TestImageArchive(t *testing.T) {
	bin := staticNettune(t)
	t.Setenv("SOURCE_DATE_EPOCH", "1772366400") // 2026-03-01T12:00:00Z
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.tar"), filepath.Join(dir, "b.tar")
	res, err := build(bin, a, "example.org/nettune")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := build(bin, b, "example.org/nettune"); err != nil {
		t.Fatal(err)
	}
	x, _ := os.ReadFile(a)
	y, _ := os.ReadFile(b)
	if !bytes.Equal(x, y) {
		t.Fatal("two builds of one binary differ: the archive is not reproducible")
	}

	oci := filepath.Join(dir, "oci")
	untar(t, x, oci)
	idx, err := layout.ImageIndexFromPath(oci)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Index(idx); err != nil {
		t.Fatalf("invalid OCI layout: %v", err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 || im.Manifests[0].Digest != res.Digest ||
		im.Manifests[0].Annotations["io.containerd.image.name"] != res.Name {
		t.Fatalf("index %+v, want one image %s named %s", im.Manifests, res.Digest, res.Name)
	}
	img, err := idx.Image(res.Digest)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cf.Config.Entrypoint, []string{"/nettune"}) || cf.OS != "linux" || cf.Architecture == "" ||
		!cf.Created.Time.Equal(res.Date) || cf.Config.Labels["org.opencontainers.image.version"] == "" {
		t.Errorf("config %+v", cf)
	}
	binary, _ := os.ReadFile(bin)
	files := map[string][]byte{}
	tr := tar.NewReader(mutate.Extract(img))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Name != "nettune" || hdr.Mode != 0o755 || hdr.Uid != 0 || !hdr.ModTime.Equal(res.Date) {
			t.Errorf("layer entry %s mode %o uid %d time %v", hdr.Name, hdr.Mode, hdr.Uid, hdr.ModTime)
		}
		files[hdr.Name], _ = io.ReadAll(tr)
	}
	if len(files) != 1 || !bytes.Equal(files["nettune"], binary) {
		t.Errorf("the image holds %d file(s); want exactly the binary as /nettune", len(files))
	}
}

func TestImageRefusesDynamicBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	bin := filepath.Join(t.TempDir(), "nettune")
	cmd := exec.Command("go", "-C", "../../..", "build", "-o", bin, "./cmd/nettune")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("no cgo build here: %v\n%s", err, out)
	}
	if _, err := build(bin, filepath.Join(t.TempDir(), "x.tar"), "nettune"); err == nil {
		t.Error("a cgo binary was put on an empty base")
	}
}

func untar(t *testing.T, archive []byte, dir string) {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(archive))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, filepath.FromSlash(hdr.Name))
		if hdr.Typeflag == tar.TypeDir {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		b, _ := io.ReadAll(tr)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

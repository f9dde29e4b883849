package main

import (
	"archive/tar"
	"bytes"
	"debug/buildinfo"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/nettune/nettune/tools/dist/internal/buildmeta"
)

// entrypoint is where the binary lives in the image.
const entrypoint = "/nettune"

// result names what was written.
type result struct {
	Name   string    // repo:tag
	Digest v1.Hash   // the image manifest's digest, for a digest-pinned reference
	Image  v1.Image  // the image itself
	Config v1.Config // its run configuration
	Date   time.Time // every timestamp in the archive
	Layer  []byte    // the one layer, uncompressed
	Index  v1.IndexManifest
}

// build writes the image of binary bin as an OCI archive to out.
func build(bin, out, repo string) (*result, error) {
	bi, err := buildinfo.ReadFile(bin)
	if err != nil {
		return nil, fmt.Errorf("build info of %s: %w", bin, err)
	}
	if buildmeta.Setting(bi, "CGO_ENABLED") != "0" {
		return nil, fmt.Errorf("%s is not a static build (CGO_ENABLED=0): an empty base has no libc", bin)
	}
	date, err := buildmeta.SourceDate(bi)
	if err != nil {
		return nil, err
	}
	tag := imageTag(bi.Main.Version)
	res := &result{Name: repo + ":" + tag, Date: date}

	binary, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	if res.Layer, err = layerTar(binary, date); err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(res.Layer)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON), layer)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = buildmeta.Setting(bi, "GOARCH"), "linux"
	cf.Created = v1.Time{Time: date}
	cf.History = nil
	res.Config = v1.Config{
		Entrypoint: []string{entrypoint},
		Labels: map[string]string{
			"org.opencontainers.image.title":    "nettune",
			"org.opencontainers.image.version":  bi.Main.Version,
			"org.opencontainers.image.revision": buildmeta.Setting(bi, "vcs.revision"),
			"org.opencontainers.image.created":  date.Format(time.RFC3339),
		},
	}
	cf.Config = res.Config
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return nil, err
	}
	if res.Digest, err = img.Digest(); err != nil {
		return nil, err
	}
	res.Image = img
	// containerd names an imported image by io.containerd.image.name; other tools read the
	// OCI ref.name.
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), mutate.IndexAddendum{
		Add: img,
		Descriptor: v1.Descriptor{Annotations: map[string]string{
			"io.containerd.image.name":          res.Name,
			"org.opencontainers.image.ref.name": tag,
		}},
	})
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	res.Index = *im

	dir, err := os.MkdirTemp("", "nettune-image-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if _, err := layout.Write(dir, idx); err != nil {
		return nil, fmt.Errorf("OCI layout: %w", err)
	}
	return res, tarDir(dir, out, date)
}

// layerTar is the image's one layer: the binary, owned by root, dated date.
func layerTar(binary []byte, date time.Time) ([]byte, error) {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	hdr := &tar.Header{Name: strings.TrimPrefix(entrypoint, "/"), Mode: 0o755, Size: int64(len(binary)),
		ModTime: date, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
	if err := tw.WriteHeader(hdr); err != nil {
		return nil, err
	}
	if _, err := tw.Write(binary); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// tarDir archives the layout in dir into out: names in lexical order, root-owned, dated date.
func tarDir(dir, out string, date time.Time) error {
	f, err := os.CreateTemp(filepath.Dir(out), ".nettune-image-*.tar")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	tw := tar.NewWriter(f)
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == dir {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		hdr := &tar.Header{Name: filepath.ToSlash(rel), Mode: 0o644, ModTime: date, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
		if d.IsDir() {
			hdr.Name += "/"
			hdr.Mode, hdr.Typeflag = 0o755, tar.TypeDir
			return tw.WriteHeader(hdr)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		hdr.Size = int64(len(b))
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err = tw.Write(b)
		return err
	})
	if err == nil {
		err = tw.Close()
	}
	if err == nil {
		err = f.Chmod(0o644)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(f.Name(), out)
}

var tagUnsafe = regexp.MustCompile(`[^A-Za-z0-9_.-]`)

// imageTag is the module version as an image tag: v0.0.0-20260301120000-8c8ffbec8e9a+dirty →
// v0.0.0-20260301120000-8c8ffbec8e9a-dirty; a build without version control is "dev".
func imageTag(v string) string {
	if v == "" || v == "(devel)" {
		return "dev"
	}
	t := tagUnsafe.ReplaceAllString(v, "-")
	if len(t) > 128 {
		t = t[:128]
	}
	return t
}

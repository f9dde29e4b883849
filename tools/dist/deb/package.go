package main

import (
	"compress/gzip"
	"debug/buildinfo"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/goreleaser/nfpm/v2"
	"github.com/goreleaser/nfpm/v2/deb"
	"github.com/goreleaser/nfpm/v2/files"

	"github.com/nettune/nettune/tools/dist/internal/buildmeta"
)

// scripts are the maintainer scripts: postinst enables nothing, prerm stops the units and
// notes whether the journal holds changes not rolled back, postrm purge keeps the state
// directory only then.
//
//go:embed scripts
var scripts embed.FS

const description = `find where a Linux host loses packets, and what to change
nettune reads the kernel's own counters (links, ethtool per-queue stats, qdiscs,
softnet_stat, SNMP) and, where it can, in-path eBPF counts and kfree_skb drop
reasons, shows at which stage packets are lost, and proposes a bounded plan of
sysctl, ring, RPS and qdisc changes that it can apply with a journal and roll
back. It enables no service: see /usr/share/doc/nettune/operations.md.`

// build writes the package for the staged tree root into out and returns its path.
func build(root, out, maintainer string) (string, error) {
	bi, err := buildinfo.ReadFile(filepath.Join(root, "usr/bin/nettune"))
	if err != nil {
		return "", fmt.Errorf("build info of the staged binary: %w", err)
	}
	mtime, err := buildmeta.SourceDate(bi)
	if err != nil {
		return "", err
	}
	version, err := debVersion(bi.Main.Version, mtime)
	if err != nil {
		return "", err
	}
	arch := buildmeta.Setting(bi, "GOARCH")
	if arch == "" {
		return "", errors.New("the staged binary names no GOARCH")
	}
	tmp, err := os.MkdirTemp("", "nettune-deb-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	contents, err := stagedContents(root, tmp, mtime)
	if err != nil {
		return "", err
	}
	s, err := writeScripts(tmp)
	if err != nil {
		return "", err
	}
	info := &nfpm.Info{
		Name: "nettune", Arch: arch, Platform: "linux", Version: version, VersionSchema: "none",
		Section: "net", Priority: "optional", Maintainer: maintainer, Description: description,
		MTime: mtime,
		Overridables: nfpm.Overridables{Contents: contents, Umask: 0o022, Scripts: nfpm.Scripts{
			PostInstall: s["postinst"], PreRemove: s["prerm"], PostRemove: s["postrm"]}},
	}
	if err := nfpm.PrepareForPackager(nfpm.WithDefaults(info), "deb"); err != nil {
		return "", fmt.Errorf("package info: %w", err)
	}
	path := filepath.Join(out, deb.Default.ConventionalFileName(info))
	f, err := os.CreateTemp(out, ".nettune-*.deb")
	if err != nil {
		return "", err
	}
	defer os.Remove(f.Name())
	if err := deb.Default.Package(info, f); err != nil {
		f.Close()
		return "", fmt.Errorf("package: %w", err)
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return path, os.Rename(f.Name(), path)
}

var debVersionChars = regexp.MustCompile(`^[0-9][A-Za-z0-9.+~]*$`)

// debVersion turns a Go module version into a Debian one: v1.2.3 → 1.2.3, a pre-release or
// pseudo-version sorts before its release (v1.2.4-0.20260301120000-abcdef → 1.2.4~0.20260301120000~abcdef),
// and +dirty stays. A binary built outside a git clone has no version ("(devel)"): it gets
// 0.0.0~dev and the source date.
func debVersion(v string, date time.Time) (string, error) {
	if v == "(devel)" {
		return "0.0.0~dev" + date.UTC().Format("20060102150405"), nil
	}
	d := strings.ReplaceAll(strings.TrimPrefix(v, "v"), "-", "~")
	if !debVersionChars.MatchString(d) {
		return "", fmt.Errorf("the staged binary's module version %q is not a Go module version", v)
	}
	return d, nil
}

// stagedContents lists every file under root for the package, owned by root with its staged
// mode; man pages are compressed (Debian's convention) into tmp.
func stagedContents(root, tmp string, mtime time.Time) (files.Contents, error) {
	var contents files.Contents
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s: not a regular file", path)
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		src, dst := path, "/"+filepath.ToSlash(rel)
		if strings.HasPrefix(dst, "/usr/share/man/") && !strings.HasSuffix(dst, ".gz") {
			src = filepath.Join(tmp, "man", rel+".gz")
			dst += ".gz"
			if err := gzipFile(path, src); err != nil {
				return err
			}
		}
		contents = append(contents, &files.Content{Source: src, Destination: dst,
			FileInfo: &files.ContentFileInfo{Owner: "root", Group: "root", Mode: fi.Mode().Perm(), MTime: mtime}})
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(contents) == 0 {
		return nil, fmt.Errorf("%s: nothing staged", root)
	}
	return contents, nil
}

// gzipFile compresses src into dst with no name or time in the header (reproducible).
func gzipFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	zw, err := gzip.NewWriterLevel(f, gzip.BestCompression)
	if err != nil {
		f.Close()
		return err
	}
	if _, err := zw.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := zw.Close(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// writeScripts puts the embedded maintainer scripts in dir and returns their paths by name.
func writeScripts(dir string) (map[string]string, error) {
	paths := map[string]string{}
	for _, name := range []string{"postinst", "prerm", "postrm"} {
		b, err := scripts.ReadFile("scripts/" + name)
		if err != nil {
			return nil, err
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o755); err != nil {
			return nil, err
		}
		paths[name] = p
	}
	return paths, nil
}

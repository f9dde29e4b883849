package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"

	"github.com/nettune/nettune/tools/kernelmatrix/vm"
)

// labPkg is the test harness; a package whose tests import it has privileged lab tests.
const labPkg = "github.com/nettune/nettune/internal/lab"

// goPkg is a Go package as `go list` describes it.
type goPkg struct {
	ImportPath string
	Dir        string
	HasTests   bool
	UsesLab    bool // its tests (or it, being the harness) run lab scenarios
}

const listFormat = `{{.ImportPath}}|{{.Dir}}|{{len .TestGoFiles}}|{{len .XTestGoFiles}}|{{join .TestImports ","}},{{join .XTestImports ","}}`

// listPackages runs `go list -e` on patterns and parses listFormat lines.
func listPackages(goTool string, patterns []string) ([]goPkg, error) {
	var out, errb bytes.Buffer
	cmd := exec.Command(goTool, append([]string{"list", "-e", "-f", listFormat}, patterns...)...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go list: %w: %s", err, lastLines(errb.String(), 5))
	}
	return parsePackageList(out.String()), nil
}

func parsePackageList(s string) []goPkg {
	var pkgs []goPkg
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		f := strings.Split(sc.Text(), "|")
		if len(f) != 5 {
			continue
		}
		p := goPkg{ImportPath: f[0], Dir: f[1], HasTests: f[2] != "0" || f[3] != "0"}
		for _, imp := range strings.Split(f[4], ",") {
			if imp == labPkg {
				p.UsesLab = true
			}
		}
		p.UsesLab = p.UsesLab || p.ImportPath == labPkg
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// labPackages picks the packages with lab tests: a new scenario package joins the matrix as
// soon as its tests import internal/lab (every privileged test calls lab.RequireRoot).
func labPackages(all []goPkg) []goPkg {
	var out []goPkg
	for _, p := range all {
		if p.HasTests && p.UsesLab {
			out = append(out, p)
		}
	}
	return out
}

// testBinary is the outcome of building one package's tests.
type testBinary struct {
	goPkg
	Path     string // empty when the build failed
	BuildErr string
}

// buildTests compiles each package's tests as a static binary (no cgo: the guest has no libc).
func buildTests(goTool string, pkgs []goPkg, dir string) []testBinary {
	var out []testBinary
	for _, p := range pkgs {
		tb := testBinary{goPkg: p}
		bin := filepath.Join(dir, strings.ReplaceAll(p.ImportPath, "/", "_")+".test")
		// Without DWARF the binaries, and so the initramfs every guest unpacks, are a third
		// smaller; stack traces keep their symbols.
		cmd := exec.Command(goTool, "test", "-c", "-ldflags=-s -w", "-o", bin, p.ImportPath)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if msg, err := cmd.CombinedOutput(); err != nil {
			tb.BuildErr = strings.TrimSpace(string(msg))
			if tb.BuildErr == "" {
				tb.BuildErr = err.Error()
			}
		} else {
			tb.Path = bin
		}
		out = append(out, tb)
	}
	return out
}

// guestDir is the package's directory in the guest: the module's files sit under /src as in
// the work tree, and each binary runs from its package directory, as go test runs it (tests
// read testdata/ and sometimes files elsewhere in the module).
func guestDir(rel string) string { return path.Join("/src", filepath.ToSlash(rel)) }

// moduleFiles lists the module's files that git tracks or would track (ignored build output
// and .git stay out), relative to root.
func moduleFiles(root string) ([]string, error) {
	cmd := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("list module files: %w", err)
	}
	var files []string
	for _, f := range strings.Split(string(out), "\x00") {
		if f != "" && !strings.HasSuffix(f, ".go") {
			files = append(files, f)
		}
	}
	return files, nil
}

// writeTestsCPIO writes the part of the initramfs every kernel shares: busybox, the host
// programs with their libraries, /init, the test binaries and the module's non-Go files.
func writeTestsCPIO(dst, root string, bins []testBinary, testArgs []string, progs guestPrograms) error {
	files, err := moduleFiles(root)
	if err != nil {
		return err
	}
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	c := vm.NewCPIO(w)
	for _, d := range []string{"bin", "tests", "dev", "proc", "sys", "tmp", "run", "root", "var"} {
		if err := c.Dir(d); err != nil {
			return err
		}
	}
	if err := c.CopyFile("bin/busybox", busyboxPath); err != nil {
		return err
	}
	if err := progs.add(c); err != nil {
		return err
	}
	for _, rel := range files {
		if err := addFile(c, filepath.Join(root, rel), guestDir(rel)); err != nil {
			return err
		}
	}
	cfg := vm.GuestConfig{TestArgs: testArgs, Path: progs.Path, LibraryPath: progs.LibraryPath}
	for _, b := range bins {
		if b.Path == "" {
			continue
		}
		rel, err := filepath.Rel(root, b.Dir)
		if err != nil {
			return err
		}
		guestBin := "/tests/" + filepath.Base(b.Path)
		if err := c.CopyFile(guestBin, b.Path); err != nil {
			return err
		}
		if err := c.Dir(guestDir(rel)); err != nil {
			return err
		}
		cfg.Packages = append(cfg.Packages, vm.GuestPackage{ImportPath: b.ImportPath, Binary: guestBin, Dir: guestDir(rel)})
	}
	if err := c.Bytes("init", 0o755, []byte(vm.InitScript(cfg))); err != nil {
		return err
	}
	if err := c.Close(); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}

// addFile copies one host file or symlink into the archive, creating its directories.
func addFile(c *vm.CPIO, host, guest string) error {
	st, err := os.Lstat(host)
	if os.IsNotExist(err) {
		return nil // listed by git but deleted in the work tree
	}
	if err != nil {
		return err
	}
	if err := c.Dir(path.Dir(guest)); err != nil {
		return err
	}
	switch {
	case st.Mode()&fs.ModeSymlink != 0:
		target, err := os.Readlink(host)
		if err != nil {
			return err
		}
		return c.Symlink(guest, target)
	case st.Mode().IsRegular():
		return c.CopyFile(guest, host)
	}
	return nil
}

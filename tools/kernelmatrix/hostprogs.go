package main

import (
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"

	"github.com/nettune/nettune/tools/kernelmatrix/vm"
)

// programPackages names the Debian package of host programs the guest may get, so that a
// missing one is installed like the other host tools.
var programPackages = map[string]string{"nft": "nftables"}

// sbinDirs are searched after PATH: a root shell without a login environment may lack them.
var sbinDirs = []string{"/usr/local/sbin", "/usr/sbin", "/sbin"}

// lookHostProgram returns the host path of a program given by name or path.
func lookHostProgram(name string) (string, error) {
	if filepath.IsAbs(name) {
		if _, err := os.Stat(name); err != nil {
			return "", fmt.Errorf("host program: %w", err)
		}
		return name, nil
	}
	if p, err := exec.LookPath(name); err == nil {
		return filepath.Abs(p)
	}
	for _, d := range sbinDirs {
		if p, err := exec.LookPath(filepath.Join(d, name)); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("host program %s not found on PATH or in %v", name, sbinDirs)
}

// guestPrograms are host programs to copy into the initramfs, each at its host path, with
// the dynamic loader and shared libraries they need (the rest of the guest is static).
type guestPrograms struct {
	Files       []string // programs, loaders and libraries: host paths, each once
	Path        []string // directories of the programs, for the guest's PATH
	LibraryPath []string // directories of the libraries, for the guest's LD_LIBRARY_PATH
}

// resolveGuestPrograms finds each named program on the host and the libraries it needs on
// the host's library path.
func resolveGuestPrograms(names []string) (guestPrograms, error) {
	var g guestPrograms
	if len(names) == 0 {
		return g, nil
	}
	libPath, err := vm.LibraryPath("/")
	if err != nil {
		return g, err
	}
	add := func(list *[]string, s string) {
		if s != "" && !slices.Contains(*list, s) {
			*list = append(*list, s)
		}
	}
	for _, n := range names {
		p, err := lookHostProgram(n)
		if err != nil {
			return g, err
		}
		deps, err := vm.SharedLibraries(p, libPath)
		if err != nil {
			return g, err
		}
		add(&g.Files, p)
		add(&g.Path, filepath.Dir(p))
		add(&g.Files, deps.Loader) // found by its absolute path: not on LD_LIBRARY_PATH
		for _, l := range deps.Libraries {
			add(&g.Files, l)
			add(&g.LibraryPath, filepath.Dir(l))
		}
	}
	return g, nil
}

// add writes the programs and libraries to the archive at their host paths, with their
// contents: a symlinked library (libedit.so.2 → libedit.so.2.0.70) becomes a file under the
// name the loader asks for.
func (g guestPrograms) add(c *vm.CPIO) error {
	for _, f := range g.Files {
		if err := c.Dir(path.Dir(filepath.ToSlash(f))); err != nil {
			return err
		}
		if err := c.CopyFile(f, f); err != nil {
			return fmt.Errorf("guest programs: %w", err)
		}
	}
	return nil
}

package vm

import (
	"bufio"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// systemLibDirs are searched after the ld.so.conf directories, as the loader's built-in
// trusted directories are.
var systemLibDirs = []string{"/lib64", "/usr/lib64", "/lib", "/usr/lib"}

// LibraryPath returns the directories the dynamic loader of the system under root searches:
// those etc/ld.so.conf lists (following its include lines), then the system directories. The
// guest has no ld.so.cache, so this is the path its libraries are found on here and set as
// LD_LIBRARY_PATH there. A missing ld.so.conf leaves only the system directories.
func LibraryPath(root string) ([]string, error) {
	var dirs []string
	seen := map[string]bool{}
	var read func(conf string, depth int) error
	read = func(conf string, depth int) error {
		if depth > 8 || seen[conf] { // an include loop
			return nil
		}
		seen[conf] = true
		f, err := os.Open(filepath.Join(root, conf))
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("library path: %w", err)
		}
		defer f.Close()
		ds, includes, err := parseLdSoConf(f)
		if err != nil {
			return fmt.Errorf("library path %s: %w", conf, err)
		}
		dirs = append(dirs, ds...)
		for _, pat := range includes {
			if !filepath.IsAbs(pat) {
				pat = filepath.Join(filepath.Dir(conf), pat)
			}
			matches, err := filepath.Glob(filepath.Join(root, pat))
			if err != nil {
				return fmt.Errorf("library path %s: include %s: %w", conf, pat, err)
			}
			slices.Sort(matches) // ldconfig reads included files in name order
			for _, m := range matches {
				rel, _ := filepath.Rel(root, m)
				if err := read("/"+rel, depth+1); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := read("/etc/ld.so.conf", 0); err != nil {
		return nil, err
	}
	var out []string
	for _, d := range append(dirs, systemLibDirs...) {
		if d = filepath.Clean(d); !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out, nil
}

// parseLdSoConf splits an ld.so.conf into library directories and include patterns.
func parseLdSoConf(r io.Reader) (dirs, includes []string, err error) {
	s := bufio.NewScanner(r)
	for s.Scan() {
		line, _, _ := strings.Cut(s.Text(), "#")
		f := strings.Fields(line)
		switch {
		case len(f) == 0, f[0] == "hwcap":
		case f[0] == "include":
			includes = append(includes, f[1:]...)
		default: // ldconfig takes the whole line as one directory
			dirs = append(dirs, strings.TrimSpace(line))
		}
	}
	return dirs, includes, s.Err()
}

// ErrLibraryNotFound means a shared library a program needs is on none of the searched
// directories.
var ErrLibraryNotFound = errors.New("shared library not found")

// Dependencies is what a dynamically linked program needs from the host at run time.
type Dependencies struct {
	Loader    string   // its dynamic loader (PT_INTERP); empty for a static program
	Libraries []string // host paths of its shared libraries, each once
}

// SharedLibraries returns the dynamic loader of a program and every shared library its
// DT_NEEDED entries name, recursively, each found as the loader finds it: in the object's
// DT_RUNPATH (or DT_RPATH), then in libPath, skipping files of another ELF class or
// machine (as /lib32 holds).
func SharedLibraries(program string, libPath []string) (Dependencies, error) {
	var deps Dependencies
	f, err := elf.Open(program)
	if err != nil {
		return deps, fmt.Errorf("shared libraries of %s: %w", program, err)
	}
	defer f.Close()
	have := map[string]bool{} // DT_NEEDED names already satisfied
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			interp, err := io.ReadAll(p.Open())
			if err != nil {
				return deps, fmt.Errorf("shared libraries of %s: interpreter: %w", program, err)
			}
			deps.Loader = strings.TrimRight(string(interp), "\x00")
			// The loader answers to its own soname: libc's DT_NEEDED on it needs no copy.
			have[filepath.Base(deps.Loader)] = true
		}
	}
	var walk func(obj string, o *elf.File) error
	walk = func(obj string, o *elf.File) error {
		needed, err := o.ImportedLibraries()
		if err != nil {
			return fmt.Errorf("%s: %w", obj, err)
		}
		for _, name := range needed {
			if have[name] {
				continue
			}
			have[name] = true
			lib, lf, err := findLibrary(name, searchDirs(obj, o, libPath), f)
			if err != nil {
				return fmt.Errorf("%s needs %s: %w", obj, name, err)
			}
			deps.Libraries = append(deps.Libraries, lib)
			err = walk(lib, lf)
			lf.Close()
			if err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(program, f); err != nil {
		return Dependencies{}, fmt.Errorf("shared libraries of %s: %w", program, err)
	}
	return deps, nil
}

// searchDirs is where the loader looks for obj's libraries: its DT_RUNPATH, or DT_RPATH when
// it has no DT_RUNPATH, with $ORIGIN expanded; then libPath.
func searchDirs(obj string, o *elf.File, libPath []string) []string {
	own, _ := o.DynString(elf.DT_RUNPATH)
	if len(own) == 0 {
		own, _ = o.DynString(elf.DT_RPATH)
	}
	var dirs []string
	origin := filepath.Dir(obj)
	for _, list := range own {
		for _, d := range strings.Split(list, ":") {
			d = strings.ReplaceAll(strings.ReplaceAll(d, "${ORIGIN}", origin), "$ORIGIN", origin)
			if d != "" {
				dirs = append(dirs, d)
			}
		}
	}
	return append(dirs, libPath...)
}

// findLibrary returns the first file called name in dirs that is an ELF object of the
// program's class and machine, opened.
func findLibrary(name string, dirs []string, program *elf.File) (string, *elf.File, error) {
	if strings.Contains(name, "/") { // a path, used as it is
		dirs = []string{""}
	}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		lf, err := elf.Open(p)
		if err != nil {
			continue
		}
		if lf.Class == program.Class && lf.Machine == program.Machine {
			return p, lf, nil
		}
		lf.Close()
	}
	return "", nil, fmt.Errorf("%w on %s", ErrLibraryNotFound, strings.Join(dirs, ":"))
}

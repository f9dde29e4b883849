package vm

import (
	"bufio"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// ModuleTree indexes one kernel's module directory (…/lib/modules/<release>) as a distribution
// package ships it: .ko files, possibly compressed, plus modules.builtin. Packages do not ship
// modules.dep (depmod writes it at install time), so dependencies come from each module's
// .modinfo section.
type ModuleTree struct {
	Dir     string
	paths   map[string]string // module name → path relative to Dir
	builtin map[string]bool
}

// Module is one loadable module with its decompressed ELF image.
type Module struct {
	Name    string
	Depends []string
	Image   []byte
}

// Resolution is the outcome of ModuleTree.Resolve.
type Resolution struct {
	Load    []Module // dependencies before dependents: insmod in this order
	Builtin []string // wanted modules compiled into the kernel
	Missing []string // wanted modules neither loadable nor built in
}

// ModuleName normalizes a module file or module name: "sch_fq_codel.ko.xz" and
// "sch-fq-codel" both give "sch_fq_codel", as the kernel does.
func ModuleName(s string) string {
	s = filepath.Base(s)
	if i := strings.Index(s, ".ko"); i >= 0 {
		s = s[:i]
	}
	return strings.ReplaceAll(s, "-", "_")
}

// OpenModuleTree indexes dir.
func OpenModuleTree(dir string) (*ModuleTree, error) {
	t := &ModuleTree{Dir: dir, paths: map[string]string{}, builtin: map[string]bool{}}
	err := filepath.WalkDir(filepath.Join(dir, "kernel"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.Contains(d.Name(), ".ko") {
			rel, _ := filepath.Rel(dir, p)
			t.paths[ModuleName(d.Name())] = rel
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("index modules: %w", err)
	}
	f, err := os.Open(filepath.Join(dir, "modules.builtin"))
	if err != nil {
		return nil, fmt.Errorf("builtin modules: %w", err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if line := strings.TrimSpace(s.Text()); line != "" {
			t.builtin[ModuleName(line)] = true
		}
	}
	return t, s.Err()
}

// Resolve finds the wanted modules and everything they depend on.
func (t *ModuleTree) Resolve(want []string) (Resolution, error) {
	var r Resolution
	state := map[string]int{} // 1 = visiting, 2 = done
	var visit func(name string, wanted bool) error
	visit = func(name string, wanted bool) error {
		rel, ok := t.paths[name]
		if !ok {
			switch {
			case t.builtin[name]:
				if wanted && !slices.Contains(r.Builtin, name) {
					r.Builtin = append(r.Builtin, name)
				}
				return nil
			case wanted:
				r.Missing = append(r.Missing, name)
				return nil
			}
			return fmt.Errorf("module %s: dependency not found", name)
		}
		switch state[name] {
		case 1:
			return fmt.Errorf("module dependency cycle at %s", name)
		case 2:
			return nil
		}
		state[name] = 1
		defer func() { state[name] = 2 }()
		img, err := ReadModuleFile(filepath.Join(t.Dir, rel))
		if err != nil {
			return err
		}
		deps, err := ModuleDepends(img)
		if err != nil {
			return fmt.Errorf("module %s: %w", name, err)
		}
		for _, d := range deps {
			if err := visit(d, false); err != nil {
				return err
			}
		}
		r.Load = append(r.Load, Module{Name: name, Depends: deps, Image: img})
		return nil
	}
	names := make([]string, 0, len(want))
	for _, w := range want {
		names = append(names, ModuleName(w))
	}
	sort.Strings(names)
	for _, n := range names {
		if err := visit(n, true); err != nil {
			return Resolution{}, err
		}
	}
	return r, nil
}

// ReadModuleFile returns the ELF image of a module file, decompressing .ko.xz, .ko.zst and
// .ko.gz with the system tools (busybox insmod only loads plain ELF).
func ReadModuleFile(path string) ([]byte, error) {
	var tool string
	switch {
	case strings.HasSuffix(path, ".ko"):
		return os.ReadFile(path)
	case strings.HasSuffix(path, ".xz"):
		tool = "xz"
	case strings.HasSuffix(path, ".zst"):
		tool = "zstd"
	case strings.HasSuffix(path, ".gz"):
		tool = "gzip"
	default:
		return nil, fmt.Errorf("module %s: unknown compression", path)
	}
	var out, errb bytes.Buffer
	cmd := exec.Command(tool, "-dc", path)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("decompress %s: %w: %s", path, err, strings.TrimSpace(errb.String()))
	}
	return out.Bytes(), nil
}

// ErrNoModinfo means the file is an ELF object without a .modinfo section: not a module.
var ErrNoModinfo = errors.New("no .modinfo section")

// ModuleDepends returns the "depends=" list of a module's .modinfo section.
func ModuleDepends(image []byte) ([]string, error) {
	f, err := elf.NewFile(bytes.NewReader(image))
	if err != nil {
		return nil, fmt.Errorf("read elf: %w", err)
	}
	sec := f.Section(".modinfo")
	if sec == nil {
		return nil, ErrNoModinfo
	}
	data, err := io.ReadAll(sec.Open())
	if err != nil {
		return nil, fmt.Errorf("read .modinfo: %w", err)
	}
	for _, kv := range bytes.Split(data, []byte{0}) {
		v, ok := bytes.CutPrefix(kv, []byte("depends="))
		if !ok {
			continue
		}
		var deps []string
		for _, d := range strings.Split(string(v), ",") {
			if d != "" {
				deps = append(deps, ModuleName(d))
			}
		}
		return deps, nil
	}
	return nil, nil
}

package vm

import (
	"bufio"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
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
	Name  string
	Info  Modinfo
	Image []byte
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

// Resolve finds the wanted modules and everything they depend on. Soft dependencies
// ("softdep=pre:", which modprobe loads first when it can) are honoured where they can be:
// a module of that name is pulled in, and a module in the set that has the name as an alias
// is loaded first — libcrc32c's init fails without a "crc32c" provider such as
// crc32c_generic loaded before it. A soft dependency found neither way is left out, as
// modprobe leaves it.
func (t *ModuleTree) Resolve(want []string) (Resolution, error) {
	var r Resolution
	mods := map[string]*Module{}
	var gather func(name string, wanted bool) error
	gather = func(name string, wanted bool) error {
		if mods[name] != nil {
			return nil
		}
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
		img, err := ReadModuleFile(filepath.Join(t.Dir, rel))
		if err != nil {
			return err
		}
		info, err := ReadModinfo(img)
		if err != nil {
			return fmt.Errorf("module %s: %w", name, err)
		}
		mods[name] = &Module{Name: name, Info: info, Image: img}
		for _, d := range info.Depends {
			if err := gather(d, false); err != nil {
				return err
			}
		}
		for _, d := range info.SoftPre {
			if _, ok := t.paths[ModuleName(d)]; ok {
				if err := gather(ModuleName(d), false); err != nil {
					return err
				}
			}
		}
		return nil
	}
	names := make([]string, 0, len(want))
	for _, w := range want {
		names = append(names, ModuleName(w))
	}
	sort.Strings(names)
	for _, n := range names {
		if err := gather(n, true); err != nil {
			return Resolution{}, err
		}
	}

	// Soft dependency → the modules in the set that answer to it, by name or alias: modprobe
	// loads every module an alias matches.
	providers := map[string][]string{}
	for _, name := range slices.Sorted(maps.Keys(mods)) {
		providers[name] = append(providers[name], name)
		for _, a := range mods[name].Info.Aliases {
			providers[a] = append(providers[a], name)
		}
	}
	state := map[string]int{} // 1 = visiting, 2 = done
	var order func(name string) error
	order = func(name string) error {
		m := mods[name]
		if m == nil || state[name] == 2 { // built in, or placed already
			return nil
		}
		if state[name] == 1 {
			return fmt.Errorf("module dependency cycle at %s", name)
		}
		state[name] = 1
		for _, d := range m.Info.Depends {
			if err := order(d); err != nil {
				return err
			}
		}
		for _, d := range m.Info.SoftPre {
			for _, p := range append(providers[d], providers[ModuleName(d)]...) {
				if state[p] == 0 { // a soft dependency never makes a cycle
					if err := order(p); err != nil {
						return err
					}
				}
			}
		}
		state[name] = 2
		r.Load = append(r.Load, *m)
		return nil
	}
	for _, n := range names {
		if err := order(n); err != nil {
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

// Modinfo is what a module's .modinfo section says about loading it.
type Modinfo struct {
	Depends []string // modules it needs symbols from: load them first
	SoftPre []string // "softdep=pre:" names, modules or aliases, to load first when possible
	Aliases []string
}

// ReadModinfo parses the .modinfo section of a module image.
func ReadModinfo(image []byte) (Modinfo, error) {
	var mi Modinfo
	f, err := elf.NewFile(bytes.NewReader(image))
	if err != nil {
		return mi, fmt.Errorf("read elf: %w", err)
	}
	sec := f.Section(".modinfo")
	if sec == nil {
		return mi, ErrNoModinfo
	}
	data, err := io.ReadAll(sec.Open())
	if err != nil {
		return mi, fmt.Errorf("read .modinfo: %w", err)
	}
	for _, kv := range bytes.Split(data, []byte{0}) {
		key, v, _ := strings.Cut(string(kv), "=")
		switch key {
		case "depends":
			for _, d := range strings.Split(v, ",") {
				if d != "" {
					mi.Depends = append(mi.Depends, ModuleName(d))
				}
			}
		case "softdep": // "pre: a b post: c"
			pre := false
			for _, w := range strings.Fields(v) {
				switch w {
				case "pre:":
					pre = true
				case "post:":
					pre = false
				default:
					if pre {
						mi.SoftPre = append(mi.SoftPre, w)
					}
				}
			}
		case "alias":
			mi.Aliases = append(mi.Aliases, v)
		}
	}
	return mi, nil
}

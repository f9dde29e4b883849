package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/nettune/nettune/tools/kernelmatrix/vm"
)

// kernel is a kernel ready to boot: its image and an initramfs fragment with its modules.
type kernel struct {
	kernelPkg
	Release     string   // the module directory name, = uname -r
	Modules     []string // modules asked for (the cache is valid only for the same list)
	Load        []string // modules to insmod, dependencies first
	Builtin     []string // asked-for modules built into the kernel
	Missing     []string // asked-for modules this kernel does not have
	Vmlinuz     string   `json:"-"`
	ModulesCPIO string   `json:"-"`
}

const kernelInfo = "kernel.json"

// prepareKernel extracts the kernel packages once into dir (vmlinuz, modules.cpio,
// kernel.json) and reuses that on later runs with the same packages and module list.
func prepareKernel(k kernelPkg, debs []string, modules []string, dir string) (kernel, bool, error) {
	kr := kernel{kernelPkg: k, Modules: modules,
		Vmlinuz: filepath.Join(dir, "vmlinuz"), ModulesCPIO: filepath.Join(dir, "modules.cpio")}
	if data, err := os.ReadFile(filepath.Join(dir, kernelInfo)); err == nil {
		var cached kernel
		if json.Unmarshal(data, &cached) == nil && cached.Version == k.Version &&
			slices.Equal(cached.Packages, k.Packages) && slices.Equal(cached.Modules, modules) {
			cached.Vmlinuz, cached.ModulesCPIO = kr.Vmlinuz, kr.ModulesCPIO
			return cached, false, nil
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return kr, false, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return kr, false, err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "extract-")
	if err != nil {
		return kr, false, err
	}
	defer os.RemoveAll(tmp)
	for _, d := range debs {
		if out, err := exec.Command("dpkg-deb", "-x", d, tmp).CombinedOutput(); err != nil {
			return kr, false, fmt.Errorf("extract %s: %w: %s", filepath.Base(d), err, out)
		}
	}
	image, modDir, err := findKernelFiles(tmp)
	if err != nil {
		return kr, false, fmt.Errorf("kernel %s: %w", k.ABI, err)
	}
	kr.Release = filepath.Base(modDir)
	tree, err := vm.OpenModuleTree(modDir)
	if err != nil {
		return kr, false, fmt.Errorf("kernel %s: %w", k.ABI, err)
	}
	res, err := tree.Resolve(modules)
	if err != nil {
		return kr, false, fmt.Errorf("kernel %s: %w", k.ABI, err)
	}
	kr.Builtin, kr.Missing = res.Builtin, res.Missing
	for _, m := range res.Load {
		kr.Load = append(kr.Load, m.Name)
	}
	if err := writeModulesCPIO(kr.ModulesCPIO, res.Load); err != nil {
		return kr, false, err
	}
	if err := copyFile(image, kr.Vmlinuz); err != nil {
		return kr, false, err
	}
	info, err := json.MarshalIndent(kr, "", "  ")
	if err != nil {
		return kr, false, err
	}
	return kr, true, os.WriteFile(filepath.Join(dir, kernelInfo), info, 0o644)
}

// findKernelFiles locates the kernel image and module directory in an extracted package
// tree: boot/vmlinuz-* and lib/modules/<release> up to 6.12; usr/lib/modules/<release>/vmlinuz
// with the split packaging of newer kernels.
func findKernelFiles(root string) (image, modDir string, err error) {
	images, _ := filepath.Glob(filepath.Join(root, "boot", "vmlinuz-*"))
	split, _ := filepath.Glob(filepath.Join(root, "usr", "lib", "modules", "*", "vmlinuz"))
	images = append(images, split...)
	var dirs []string
	for _, pat := range []string{"lib/modules/*/modules.builtin", "usr/lib/modules/*/modules.builtin"} {
		m, _ := filepath.Glob(filepath.Join(root, pat))
		for _, f := range m {
			dirs = append(dirs, filepath.Dir(f))
		}
	}
	if len(images) != 1 || len(dirs) != 1 {
		return "", "", fmt.Errorf("want one kernel image and one module directory, found images %v, module dirs %v", images, dirs)
	}
	return images[0], dirs[0], nil
}

func writeModulesCPIO(path string, mods []vm.Module) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	c := vm.NewCPIO(w)
	var order []string
	err = c.Dir("modules")
	for _, m := range mods {
		if err == nil {
			err = c.Bytes("modules/"+m.Name+".ko", 0o644, m.Image)
		}
		order = append(order, m.Name)
	}
	if err == nil {
		err = c.Bytes("modules/order", 0o644, []byte(strings.Join(order, "\n")+"\n"))
	}
	if err == nil {
		err = c.Close()
	}
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

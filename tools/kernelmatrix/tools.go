package main

import (
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
)

// busyboxPath is where Debian's busybox-static installs its binary.
const busyboxPath = "/bin/busybox"

// hostTool is a program the run needs and the Debian package that provides it.
type hostTool struct {
	present func() bool
	pkg     string
}

func onPath(name string) func() bool {
	return func() bool { _, err := exec.LookPath(name); return err == nil }
}

var baseTools = []hostTool{
	{onPath("qemu-system-x86_64"), "qemu-system-x86"},
	{staticBusybox, "busybox-static"},
	{onPath("xz"), "xz-utils"},
	{onPath("zstd"), "zstd"},
	{onPath("dpkg-deb"), "dpkg"},
}

// staticBusybox reports whether /bin/busybox is statically linked: the initramfs has no
// shared libraries (the plain busybox package is dynamic).
func staticBusybox() bool {
	f, err := elf.Open(busyboxPath)
	if err != nil {
		return false
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return false
		}
	}
	return true
}

// hostTools is what a run needs: the base tools and the host programs for the guest whose
// package is known.
func hostTools(programs []string) []hostTool {
	tools := slices.Clone(baseTools)
	for _, p := range programs {
		if pkg, ok := programPackages[p]; ok {
			tools = append(tools, hostTool{func() bool { _, err := lookHostProgram(p); return err == nil }, pkg})
		}
	}
	return tools
}

// ensureTools installs the Debian packages of missing tools (apt-get update once, then one
// apt-get install). It waits for another apt to release the dpkg lock.
func ensureTools(hostTools []hostTool, install bool) ([]string, error) {
	var missing []string
	for _, t := range hostTools {
		if !t.present() {
			missing = append(missing, t.pkg)
		}
	}
	if len(missing) == 0 {
		return nil, nil
	}
	if !install {
		return missing, fmt.Errorf("missing packages %s (run without -install=false to install them)", strings.Join(missing, " "))
	}
	lock := []string{"-o", "DPkg::Lock::Timeout=600"}
	steps := [][]string{
		append([]string{"update", "-q"}, lock...),
		append(append([]string{"install", "-y", "-q", "--no-install-recommends"}, lock...), missing...),
	}
	for _, args := range steps {
		cmd := exec.Command("apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			return missing, fmt.Errorf("apt-get %s: %w: %s", args[0], err, lastLines(string(out), 10))
		}
	}
	for _, t := range hostTools {
		if !t.present() {
			return missing, fmt.Errorf("package %s installed but its tool is still missing", t.pkg)
		}
	}
	return missing, nil
}

package vm

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// GuestPackage is one test binary inside the initramfs.
type GuestPackage struct {
	ImportPath string // reported in results
	Binary     string // path in the guest
	Dir        string // working directory in the guest: the package's directory in the module
}

// GuestConfig describes what the guest's /init does. The modules to load come with the
// kernel: /modules/order lists them (dependencies first), /modules/<name>.ko holds them, so
// one archive with the tests serves every kernel.
type GuestConfig struct {
	Packages []GuestPackage
	TestArgs []string // passed to every test binary, e.g. -test.v=test2json -test.run=X
	// Path lists directories of host programs, searched before busybox's /bin so that a
	// real program shadows the applet of the same name.
	Path []string
	// LibraryPath becomes LD_LIBRARY_PATH: the host programs' shared libraries sit at their
	// host paths, and the guest has no ld.so.cache to find them in directories the loader
	// does not search by default.
	LibraryPath []string
}

// Test output goes to the second serial port so kernel messages on the console (ttyS0) never
// interleave with it.
const guestLogTTY = "/dev/ttyS1"

const marker = "@@kernelmatrix"

// exitBase is added to the status /init writes to isa-debug-exit.
const exitBase = 0x10

// InitScript returns the busybox shell script run as /init: it mounts the pseudo file
// systems the tests use, loads the kernel's modules, runs each test binary with its output
// framed by markers on ttyS1, and ends the VM through isa-debug-exit (port 0xf4) with status
// 0 when every binary exited 0, else 1.
func InitScript(c GuestConfig) string {
	var b strings.Builder
	b.WriteString(`#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=` + shellQuote([]string{strings.Join(append(slices.Clone(c.Path), "/bin"), ":")}) + ` HOME=/root TMPDIR=/tmp
`)
	if len(c.LibraryPath) > 0 {
		b.WriteString("export LD_LIBRARY_PATH=" + shellQuote([]string{strings.Join(c.LibraryPath, ":")}) + "\n")
	}
	b.WriteString(`# Tests that change a real NIC (ring sizes of the emulated e1000) run only inside a guest.
export KERNELMATRIX_GUEST=1
mkdir -p /proc /sys /dev /tmp /run /root /var
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mkdir -p /run/lock /var/tmp
ln -s /run /var/run
ln -s /run/lock /var/lock
mount -t bpf bpffs /sys/fs/bpf
mount -t debugfs debugfs /sys/kernel/debug
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
exec 3>` + guestLogTTY + `
stty -F ` + guestLogTTY + ` raw -echo 2>/dev/null
note() { echo "` + marker + ` note $*" >&3; }
uptime_s() { cut -d' ' -f1 /proc/uptime; }
echo "` + marker + ` release $(uname -r)" >&3
`)
	b.WriteString(`for m in $(cat /modules/order 2>/dev/null); do
	insmod /modules/$m.ko 2>/tmp/insmod || note "insmod $m: $(cat /tmp/insmod)"
done
ip link set lo up
# Kernels before 5.11 charge BPF maps to RLIMIT_MEMLOCK.
ulimit -l unlimited
status=0
`)
	args := shellQuote(c.TestArgs)
	for _, p := range c.Packages {
		fmt.Fprintf(&b, "echo \"%s begin %s $(uptime_s)\" >&3\n", marker, p.ImportPath)
		fmt.Fprintf(&b, "cd %s && %s %s >&3 2>&3; rc=$?; cd /\n", shellQuote([]string{p.Dir}), shellQuote([]string{p.Binary}), args)
		fmt.Fprintf(&b, "echo \"%s end %s $rc $(uptime_s)\" >&3\n", marker, p.ImportPath)
		b.WriteString("[ $rc -eq 0 ] || status=1\n")
	}
	fmt.Fprintf(&b, `echo "%s done" >&3
exec 3>&-
sync
printf "\\$(printf %%o $((%d + status)))" | dd of=/dev/port bs=1 seek=244 count=1 2>/dev/null
poweroff -f
`, marker, exitBase)
	return b.String()
}

func shellQuote(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}

// PackageRun is the raw output of one test binary in the guest.
type PackageRun struct {
	ImportPath string
	Output     []byte  // the binary's stdout and stderr
	Finished   bool    // the end marker was seen
	Exit       int     // the binary's exit status, when Finished
	Seconds    float64 // how long the binary ran (guest clock), when Finished
	started    float64
}

// GuestLog is what the guest wrote on its test port.
type GuestLog struct {
	Release  string   // uname -r in the guest
	Notes    []string // problems /init reported, such as a module that did not load
	Packages []PackageRun
	Done     bool // /init ran to its end
}

// ParseGuestLog splits the test port's output at the markers InitScript writes.
func ParseGuestLog(r io.Reader) (GuestLog, error) {
	var g GuestLog
	var cur *PackageRun
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			line = bytes.ReplaceAll(line, []byte("\r"), nil)
			if rest, ok := bytes.CutPrefix(line, []byte(marker+" ")); ok {
				cur = g.marker(strings.TrimSpace(string(rest)), cur)
			} else if cur != nil {
				cur.Output = append(cur.Output, line...)
			}
		}
		if err == io.EOF {
			return g, nil
		}
		if err != nil {
			return g, fmt.Errorf("read guest log: %w", err)
		}
	}
}

// marker applies one marker line and returns the package now being written, if any.
func (g *GuestLog) marker(m string, cur *PackageRun) *PackageRun {
	word, rest, _ := strings.Cut(m, " ")
	switch word {
	case "release":
		g.Release = rest
	case "note":
		g.Notes = append(g.Notes, rest)
	case "begin":
		f := strings.Fields(rest)
		if len(f) == 0 {
			return nil
		}
		run := PackageRun{ImportPath: f[0]}
		if len(f) == 2 {
			run.started, _ = strconv.ParseFloat(f[1], 64)
		}
		g.Packages = append(g.Packages, run)
		return &g.Packages[len(g.Packages)-1]
	case "end":
		f := strings.Fields(rest)
		if cur != nil && len(f) >= 2 {
			cur.Finished = true
			cur.Exit, _ = strconv.Atoi(f[1])
			if len(f) == 3 {
				end, _ := strconv.ParseFloat(f[2], 64)
				cur.Seconds = end - cur.started
			}
		}
	case "done":
		g.Done = true
	}
	return nil
}

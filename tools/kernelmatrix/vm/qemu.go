package vm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Machine is one qemu boot of a kernel with an initramfs built around InitScript.
type Machine struct {
	Kernel     string   // bzImage (vmlinuz)
	Initrd     string   // uncompressed cpio: loading it costs less than decompressing in the guest
	Append     []string // extra kernel command line words
	MemoryMiB  int
	CPUs       int
	Extra      []string // more qemu arguments: devices such as "-device", "e1000" (a NIC with no backend)
	Accel      string   // qemu -accel value: "kvm", or TCG
	ConsoleLog string   // file receiving the kernel console (ttyS0)
	GuestLog   string   // file receiving the tests' output (ttyS1)
	Timeout    time.Duration
}

// Exit describes how the VM ended.
type Exit struct {
	Reported bool // the guest wrote to isa-debug-exit: /init ran to its end
	Status   int  // the status /init reported (0: all binaries exited 0), when Reported
	TimedOut bool
	Elapsed  time.Duration
}

// TCG is software emulation with all vCPUs on one host thread. Multi-threaded TCG was
// measured to oops (int3 in a tracepoint site) and livelock (soft lockups on both vCPUs) in
// the guest while tests attached BPF programs to skb:kfree_skb under traffic: the kernel
// patches its own text then, and cross-vCPU code modification is where multi-threaded TCG is
// fragile.
const TCG = "tcg,thread=single"

// Accel returns "kvm" when /dev/kvm opens here, else TCG. An open /dev/kvm does not prove
// that KVM runs guests: see KVMBoots.
func Accel() string {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return TCG
	}
	f.Close()
	return "kvm"
}

// KVMBoots boots kernel under KVM without an initramfs and reports whether its console
// printed anything within wait. Some hosts offer a /dev/kvm whose guests never print: a
// paravirtualized KVM (kvm-pvm) in a cloud VM stops an ordinary kernel at its first
// emulated instruction ("KVM internal error ... emulation failure") and qemu waits until
// killed, which cost every kernel its whole timeout. A kernel prints its first console line
// within about a second even under TCG here, so 30 s of silence is not slowness.
func KVMBoots(ctx context.Context, kernel, dir string, wait time.Duration) (bool, error) {
	console := filepath.Join(dir, "kvm-probe.log")
	defer os.Remove(console)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := exec.CommandContext(ctx, "qemu-system-x86_64", "-machine", "q35", "-accel", "kvm", "-cpu", "max",
		"-m", "256", "-smp", "1", "-display", "none", "-monitor", "none", "-no-reboot", "-nic", "none",
		"-serial", "file:"+console, "-kernel", kernel, "-append", "console=ttyS0 panic=-1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return false, fmt.Errorf("kvm probe: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(wait)
	printed := func() bool { fi, err := os.Stat(console); return err == nil && fi.Size() > 0 }
	for {
		select {
		case <-tick.C:
			if printed() {
				cancel()
				<-exited
				return true, nil
			}
		case <-exited:
			return printed(), nil
		case <-deadline:
			cancel()
			<-exited
			return printed(), nil
		}
	}
}

// Args returns qemu's command line.
func (m Machine) Args() []string {
	cmdline := append([]string{"console=ttyS0", "loglevel=5", "panic=-1", "mitigations=off"}, m.Append...)
	args := []string{
		"-machine", "q35",
		"-accel", m.Accel,
		"-cpu", "max",
		"-m", fmt.Sprint(m.MemoryMiB),
		"-smp", fmt.Sprint(m.CPUs),
		"-display", "none", "-monitor", "none", "-no-reboot",
		"-serial", "file:" + m.ConsoleLog,
		"-serial", "file:" + m.GuestLog,
		"-kernel", m.Kernel,
		"-initrd", m.Initrd,
		"-append", strings.Join(cmdline, " "),
		"-nic", "none",
		"-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
	}
	return append(args, m.Extra...)
}

// Run boots the machine and waits until the guest exits, the timeout passes or ctx ends.
func (m Machine) Run(ctx context.Context) (Exit, error) {
	ctx, cancel := context.WithTimeout(ctx, m.Timeout)
	defer cancel()
	start := time.Now()
	cmd := exec.CommandContext(ctx, "qemu-system-x86_64", m.Args()...)
	// A guest must not outlive an interrupted run.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	ex := Exit{Elapsed: time.Since(start)}
	if ctx.Err() == context.DeadlineExceeded {
		ex.TimedOut = true
		return ex, nil
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
		// A clean qemu exit means the guest powered off or rebooted (panic=-1 with
		// -no-reboot) without reaching isa-debug-exit.
		return ex, nil
	case errors.As(err, &ee) && ee.ExitCode()%2 == 1 && ee.ExitCode()>>1 >= exitBase:
		// isa-debug-exit makes qemu exit with (value << 1) | 1; the offset keeps the
		// guest's status apart from qemu's own exit 1 on errors.
		ex.Reported, ex.Status = true, ee.ExitCode()>>1-exitBase
		return ex, nil
	}
	return ex, fmt.Errorf("qemu: %w: %s", err, strings.TrimSpace(string(out)))
}

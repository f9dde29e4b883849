// Package netns runs work inside a network namespace named by the user.
package netns

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// ErrNotFound is returned when the named namespace does not exist; callers map it to exit 2.
var ErrNotFound = errors.New("network namespace not found")

// Path resolves a namespace given as a name (looked up under /run/netns) or a path
// (anything containing a slash, e.g. /proc/123/ns/net). "" means the current namespace.
func Path(ns string) string {
	if ns == "" || strings.ContainsRune(ns, '/') {
		return ns
	}
	return filepath.Join("/run/netns", ns)
}

// Open returns a handle on the namespace; the caller closes it.
func Open(ns string) (vnetns.NsHandle, error) {
	if ns == "" {
		return vnetns.Get()
	}
	p := Path(ns)
	if _, err := os.Stat(p); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return vnetns.None(), fmt.Errorf("%w: %s", ErrNotFound, ns)
		}
		return vnetns.None(), fmt.Errorf("netns %s: %w", ns, err)
	}
	h, err := vnetns.GetFromPath(p)
	if err != nil {
		return vnetns.None(), fmt.Errorf("open netns %s: %w", ns, err)
	}
	return h, nil
}

// Do runs fn on an OS thread that is inside namespace ns, then returns the thread to the
// original namespace. With ns == "" fn runs in the current namespace (still on a locked thread,
// so /proc/thread-self/net is the namespace fn sees). If the thread cannot be switched back it
// is left locked, so Go retires it instead of reusing a thread in the wrong namespace.
func Do(ns string, fn func() error) error {
	if ns == "" {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		return fn()
	}
	target, err := Open(ns)
	if err != nil {
		return err
	}
	defer target.Close()

	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := vnetns.Get()
		if err != nil {
			errc <- fmt.Errorf("current netns: %w", err)
			return
		}
		defer orig.Close()
		if err := vnetns.Set(target); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter netns %s: %w", ns, err)
			return
		}
		ferr := fn()
		if err := vnetns.Set(orig); err != nil {
			errc <- errors.Join(ferr, fmt.Errorf("leave netns %s: %w", ns, err))
			return // thread stays locked: the runtime discards it when this goroutine exits
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// DoWithSysfs is Do for work that also reads /sys/class/net of the target namespace. sysfs
// shows the network namespace of whoever mounted it, so fn runs on a thread with a private
// mount namespace and a fresh sysfs mounted at the directory passed to fn. The thread is
// never reused: it is left locked and the runtime retires it when fn returns.
func DoWithSysfs(ns string, fn func(sysRoot string) error) error {
	target, err := Open(ns)
	if err != nil {
		return err
	}
	defer target.Close()
	dir, err := os.MkdirTemp("", "nettune-sysfs-")
	if err != nil {
		return fmt.Errorf("sysfs mount point: %w", err)
	}
	defer os.Remove(dir)

	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: this thread's mount and net namespaces are changed
		if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
			errc <- fmt.Errorf("private mount namespace: %w", err)
			return
		}
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			errc <- fmt.Errorf("make mounts private: %w", err)
			return
		}
		if err := vnetns.Set(target); err != nil {
			errc <- fmt.Errorf("enter netns %s: %w", ns, err)
			return
		}
		if err := unix.Mount("sysfs", dir, "sysfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
			errc <- fmt.Errorf("mount sysfs for netns %s: %w", ns, err)
			return
		}
		ferr := fn(dir)
		_ = unix.Unmount(dir, unix.MNT_DETACH)
		errc <- ferr
	}()
	return <-errc
}

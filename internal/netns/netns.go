// Package netns runs work inside a network namespace named by the user.
package netns

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

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

// DoWithSysfs is Do for work that also reads /sys/class/net of the target namespace (see
// Thread); for one call.
func DoWithSysfs(ns string, access SysfsAccess, fn func(sysRoot string) error) error {
	th, err := NewThread(ns, access)
	if err != nil {
		return err
	}
	defer th.Close()
	return th.Do(fn)
}

// Thread is an OS thread parked inside a network namespace, with a private mount namespace
// and a fresh sysfs mounted at SysRoot: sysfs shows the network namespace of whoever mounted
// it. Keeping the thread (and its mount) across samples matters: the first read of each file
// in a fresh sysfs builds its kernel dentries, several times the cost of later reads. The
// thread is never reused by Go: it stays locked and is retired when Close ends it.
type Thread struct {
	work  chan func(string)
	done  chan struct{}
	dir   string
	close sync.Once
}

// SysfsAccess is how a namespace's private sysfs is mounted: readers get it read-only, knob
// writes (RPS masks) need it writable.
type SysfsAccess bool

const (
	ReadOnly SysfsAccess = false
	Writable SysfsAccess = true
)

// NewThread starts the thread inside ns ("" = the current namespace).
func NewThread(ns string, access SysfsAccess) (*Thread, error) {
	target, err := Open(ns)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "nettune-sysfs-")
	if err != nil {
		target.Close()
		return nil, fmt.Errorf("sysfs mount point: %w", err)
	}
	th := &Thread{work: make(chan func(string)), done: make(chan struct{}), dir: dir}
	ready := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: this thread's mount and net namespaces change
		defer close(th.done)
		err := enter(target, dir, access)
		target.Close()
		ready <- err
		if err != nil {
			return
		}
		for fn := range th.work {
			fn(dir)
		}
		_ = unix.Unmount(dir, unix.MNT_DETACH)
	}()
	if err := <-ready; err != nil {
		os.Remove(dir)
		return nil, fmt.Errorf("netns %s: %w", ns, err)
	}
	return th, nil
}

// enter gives the calling locked thread a private mount namespace (nothing propagates to or
// from the host), enters target and mounts target's sysfs at dir: sysfs shows the network
// namespace of whoever mounted it. This is the one place nettune mounts sysfs.
func enter(target vnetns.NsHandle, dir string, access SysfsAccess) error {
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("private mount namespace: %w", err)
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	if err := vnetns.Set(target); err != nil {
		return fmt.Errorf("enter: %w", err)
	}
	flags := uintptr(unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC)
	if access == ReadOnly {
		flags |= unix.MS_RDONLY
	}
	if err := unix.Mount("sysfs", dir, "sysfs", flags, ""); err != nil {
		return fmt.Errorf("mount sysfs: %w", err)
	}
	return nil
}

// Do runs fn on the thread with the namespace's sysfs root.
func (th *Thread) Do(fn func(sysRoot string) error) error {
	errc := make(chan error, 1)
	th.work <- func(sys string) { errc <- fn(sys) }
	return <-errc
}

// Close unmounts the private sysfs and ends the thread.
func (th *Thread) Close() {
	th.close.Do(func() {
		close(th.work)
		<-th.done
		os.Remove(th.dir)
	})
}

// Package netnsfind finds every network namespace on the host and opens one safely later.
//
// Two sources, merged by namespace identity (the nsfs inode):
//   - /proc/PID/ns/net of every process: finds namespaces that nothing names, e.g. one made by
//     `unshare --net` and held only by its process;
//   - nsfs bind mounts of net namespaces in the mount table (/proc/thread-self/mountinfo): `ip netns`
//     names under /run/netns and the runtimes' own directories (CRI-O and containerd's CRI
//     under /var/run/netns, Docker under /var/run/docker/netns, containerd's state dir when
//     netns_mounts_under_state_dir is set), including namespaces with no process left in them.
//
// Only thread-group leaders are read: a namespace held only by a non-leader thread (a
// program that called setns on one thread) or only by an open file descriptor is not found;
// neither is a bind mount made in another mount namespace unless a process is in it.
//
// Every net namespace lives in the one nsfs superblock, whose inode numbers the kernel never
// reuses while the namespace exists, so the inode alone deduplicates; the device is recorded
// and checked again when a namespace is opened.
package netnsfind

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// ErrGone means the namespace no longer exists (or can no longer be reached through anything
// discovery found): every process in it exited, and its bind mounts were removed. A caller
// sampling each namespace skips it without reporting an error.
var ErrGone = errors.New("network namespace gone")

// ID identifies a network namespace: the device and inode of its nsfs file, as stat(2) of
// /proc/PID/ns/net shows them. Dev is 0 when it could not be read (fixture trees).
type ID struct {
	Dev uint64
	Ino uint64
}

// String is the form readlink(2) of /proc/PID/ns/net shows, e.g. "net:[4026531840]".
func (id ID) String() string { return fmt.Sprintf("net:[%d]", id.Ino) }

// Namespace is one network namespace and the ways to reach it.
type Namespace struct {
	ID   ID
	Host bool // the namespace of PID 1 (of kthreadd when PID 1's cannot be read)
	// Names are the `ip netns` names: bind mounts directly under /run/netns or /var/run/netns.
	Names []string
	// Mounts are the nsfs bind-mount paths of the namespace, sorted (Names' paths included).
	Mounts []string
	// PIDs are the processes (thread-group leaders) in the namespace at discovery, ascending.
	PIDs []int

	procRoot string
}

// Path is the path that best names the namespace to a person, e.g. for
// `nsenter --net=PATH`: its first bind mount, else /proc/PID/ns/net of its lowest PID. A PID
// can be reused after its process exits: enter the namespace with Open, which checks it.
func (n *Namespace) Path() string {
	if len(n.Mounts) > 0 {
		return n.Mounts[0]
	}
	if len(n.PIDs) > 0 {
		return filepath.Join(n.procRoot, fmt.Sprint(n.PIDs[0]), "ns", "net")
	}
	return ""
}

// Snapshot is the result of one discovery.
type Snapshot struct {
	Host ID // zero when neither PID 1's nor kthreadd's namespace could be read
	// Namespaces lists the host namespace first, then the others by inode.
	Namespaces []Namespace
}

// Lookup returns the namespace with the inode, if discovery found it.
func (s *Snapshot) Lookup(ino uint64) (*Namespace, bool) {
	i := slices.IndexFunc(s.Namespaces, func(n Namespace) bool { return n.ID.Ino == ino })
	if i < 0 {
		return nil, false
	}
	return &s.Namespaces[i], true
}

// Discover lists every network namespace visible from procRoot ("/proc" on a host): the
// processes' namespaces and the net nsfs mounts of the calling thread's mount table.
func Discover(procRoot string) (*Snapshot, error) {
	// thread-self, not self: self is the main thread's table, and a main thread that once
	// entered a private mount namespace (internal/netns's sysfs threads) stays there, since
	// Go never ends it — its table then misses every namespace mounted after.
	mi, err := os.Open(filepath.Join(procRoot, "thread-self", "mountinfo"))
	if errors.Is(err, os.ErrNotExist) { // a recorded root has self only
		mi, err = os.Open(filepath.Join(procRoot, "self", "mountinfo"))
	}
	if err != nil {
		return nil, fmt.Errorf("mount table: %w", err)
	}
	mounts, err := ParseMountinfo(mi)
	mi.Close()
	if err != nil {
		return nil, fmt.Errorf("mount table: %w", err)
	}
	procs, err := scanProcesses(procRoot)
	if err != nil {
		return nil, err
	}
	return merge(procRoot, procs, mounts), nil
}

// merge builds the snapshot from the processes' namespaces and the nsfs mounts.
func merge(procRoot string, procs processScan, mounts []Mount) *Snapshot {
	byIno := make(map[uint64]int, len(procs.byIno)+len(mounts))
	var list []Namespace
	get := func(ino uint64) *Namespace {
		i, ok := byIno[ino]
		if !ok {
			i = len(list)
			byIno[ino] = i
			list = append(list, Namespace{ID: ID{Dev: procs.dev, Ino: ino}, procRoot: procRoot})
		}
		return &list[i]
	}
	for ino, pids := range procs.byIno {
		get(ino).PIDs = pids
	}
	for _, m := range mounts {
		n := get(m.Ino)
		if n.ID.Dev == 0 {
			n.ID.Dev = m.Dev
		}
		if !slices.Contains(n.Mounts, m.Path) {
			n.Mounts = append(n.Mounts, m.Path)
		}
	}
	s := &Snapshot{}
	if procs.host != 0 {
		get(procs.host).Host = true
		s.Host = get(procs.host).ID
	}
	for i := range list {
		n := &list[i]
		slices.Sort(n.PIDs) // map order above; each process list is built ascending already
		slices.SortFunc(n.Mounts, byPreference)
		for _, p := range n.Mounts {
			if name, ok := netnsName(p); ok && !slices.Contains(n.Names, name) {
				n.Names = append(n.Names, name)
			}
		}
	}
	slices.SortFunc(list, func(a, b Namespace) int {
		if a.Host != b.Host {
			if a.Host {
				return -1
			}
			return 1
		}
		switch {
		case a.ID.Ino < b.ID.Ino:
			return -1
		case a.ID.Ino > b.ID.Ino:
			return 1
		}
		return 0
	})
	s.Namespaces = list
	return s
}

// netnsDirs hold `ip netns` names (/var/run is a symlink to /run on most systems, not all).
var netnsDirs = []string{"/run/netns/", "/var/run/netns/"}

func netnsName(path string) (string, bool) {
	for _, d := range netnsDirs {
		if name, ok := strings.CutPrefix(path, d); ok && name != "" && !strings.Contains(name, "/") {
			return name, true
		}
	}
	return "", false
}

// byPreference puts `ip netns` paths first (what a person types), then the rest by name.
func byPreference(a, b string) int {
	_, na := netnsName(a)
	_, nb := netnsName(b)
	if na != nb {
		if na {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}

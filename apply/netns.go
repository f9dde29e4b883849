package apply

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/nettune/nettune/collect/netnsfind"
	"github.com/nettune/nettune/collect/owner"
	"github.com/nettune/nettune/knob/live"
)

// NetnsOwner is who owned a namespace nettune changed, as the journal keeps it next to the
// namespace's name or path and inode: an inode is given to a new namespace once the old one
// is gone, a pod UID or container ID never is.
type NetnsOwner struct {
	Pod       string `json:"pod,omitempty"`       // NAMESPACE/NAME
	PodUID    string `json:"pod_uid,omitempty"`   // Kubernetes pod UID
	Container string `json:"container,omitempty"` // the container holding the namespace (the sandbox, else the first)
}

// ownerOf keeps what identifies a namespace's owner; nil for a namespace with none (one made
// by ip netns, or by a process outside any container).
func ownerOf(o owner.Owner) *NetnsOwner {
	var n NetnsOwner
	if o.Pod.Namespace != "" && o.Pod.Name != "" {
		n.Pod = o.Pod.Namespace + "/" + o.Pod.Name
	}
	n.PodUID = o.Pod.UID
	for _, c := range o.Containers {
		if n.Container == "" || c.Sandbox {
			n.Container = c.ID
		}
		if c.Sandbox {
			break
		}
	}
	if n.Container == "" {
		for _, p := range o.Processes {
			if p.Cgroup.ContainerID != "" {
				n.Container = p.Cgroup.ContainerID
				break
			}
		}
	}
	if n == (NetnsOwner{}) {
		return nil
	}
	return &n
}

// String is how messages name the owner: "pod default/dns-0", "container 0123456789ab".
func (o *NetnsOwner) String() string {
	switch {
	case o == nil:
		return ""
	case o.Pod != "":
		return "pod " + o.Pod
	case o.PodUID != "":
		return "pod " + o.PodUID
	case o.Container != "":
		return "container " + o.Container[:min(12, len(o.Container))]
	}
	return ""
}

var (
	podNameRe     = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?/[a-zA-Z0-9]([a-zA-Z0-9._-]{0,251}[a-zA-Z0-9])?$`)
	podUIDRe      = regexp.MustCompile(`^[0-9a-fA-F_-]{1,64}$`)
	containerIDRe = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// validate checks an owner read back from the journal: names as Kubernetes and the runtimes
// make them, nothing else.
func (o *NetnsOwner) validate() error {
	switch {
	case o == nil:
		return nil
	case *o == NetnsOwner{}:
		return fmt.Errorf("an empty netns owner")
	case o.Pod != "" && !podNameRe.MatchString(o.Pod):
		return fmt.Errorf("netns owner pod %q", o.Pod)
	case o.PodUID != "" && !podUIDRe.MatchString(o.PodUID):
		return fmt.Errorf("netns owner pod uid %q", o.PodUID)
	case o.Container != "" && !containerIDRe.MatchString(o.Container):
		return fmt.Errorf("netns owner container %q", o.Container)
	}
	return nil
}

// target is the namespace of a step that is not nettune's own: the inode and owner the
// journal records, and the kept handle the step reads and writes through.
type target struct {
	ino   uint64
	owner *NetnsOwner
	h     *netnsfind.Handle
}

// check is the last look before a write: the handle is still the namespace it was opened on.
func (t *target) check() error {
	var st unix.Stat_t
	if err := unix.Fstat(t.h.Fd(), &st); err != nil {
		return fmt.Errorf("netns %s: %w", t.h.ID, err)
	}
	if st.Ino != t.ino {
		return fmt.Errorf("netns handle is inode %d, not %d", st.Ino, t.ino)
	}
	return nil
}

// netnsRef is how commands and the journal name a namespace a node run found: its ip netns
// name (`ip netns exec NAME`), else its best path (`nsenter --net=PATH`).
func netnsRef(ns *netnsfind.Namespace) string {
	if len(ns.Names) > 0 {
		return ns.Names[0]
	}
	return ns.Path()
}

// locator finds the namespaces journal entries name, by inode, for rollback and status:
// discovery runs once, when the first entry asks.
type locator struct {
	env      live.Env
	procRoot string
	snap     *netnsfind.Snapshot
	err      error
	owners   *owner.Resolver
	handles  map[uint64]*netnsfind.Handle
}

func newLocator(env live.Env) *locator {
	procRoot := env.ProcRoot
	// The owner only needs to show whether a namespace is the one recorded: the pod UID and
	// container ID its processes' cgroups carry, without asking a runtime.
	return &locator{env: env, procRoot: procRoot, handles: map[uint64]*netnsfind.Handle{},
		owners: owner.NewResolver(owner.Options{ProcRoot: procRoot, CRISockets: []string{}})}
}

// gone says why e's namespace no longer exists ("" when it does): no namespace has the
// inode any more, or the one that has it now is another (its name, path, pod or container
// are not those recorded: the inode was given to a new namespace).
func (l *locator) gone(e Entry) (string, error) {
	if e.NetnsIno == 0 {
		return "", nil
	}
	if l.snap == nil && l.err == nil {
		l.snap, l.err = netnsfind.Discover(l.procRoot)
	}
	if l.err != nil {
		return "", fmt.Errorf("find netns %s: %w", e.Netns, l.err)
	}
	name := "netns " + e.Netns
	if s := e.NetnsOwner.String(); s != "" {
		name += " (" + s + ")"
	}
	ns, ok := l.snap.Lookup(e.NetnsIno)
	if !ok {
		if ino, err := netnsIno(e.Netns); err == nil && ino != e.NetnsIno {
			return name + " no longer exists (the name now names another namespace)", nil
		}
		return name + " no longer exists", nil
	}
	if !l.same(ns, e) {
		return name + " no longer exists (its inode now names another namespace)", nil
	}
	return "", nil
}

// same: the namespace with the recorded inode is the one recorded when its owner matches the
// recorded one, or, without a recorded owner, when the recorded name or path still leads to it.
func (l *locator) same(ns *netnsfind.Namespace, e Entry) bool {
	if o := e.NetnsOwner; o != nil {
		now := l.owners.Namespace(context.Background(), ns)
		switch {
		case o.PodUID != "":
			return now.Pod.UID == o.PodUID
		case o.Container != "":
			return slices.ContainsFunc(now.Containers, func(c owner.Container) bool { return c.ID == o.Container }) ||
				slices.ContainsFunc(now.Processes, func(p owner.Process) bool { return p.Cgroup.ContainerID == o.Container })
		}
		return o.Pod == now.Pod.Namespace+"/"+now.Pod.Name
	}
	if slices.Contains(ns.Names, e.Netns) || slices.Contains(ns.Mounts, e.Netns) {
		return true
	}
	ino, err := netnsIno(e.Netns)
	return err == nil && ino == e.NetnsIno
}

// handle is a kept handle on e's namespace, the one with the recorded inode (call gone
// first): the locator closes it.
func (l *locator) handle(e Entry) (*netnsfind.Handle, error) {
	if h, ok := l.handles[e.NetnsIno]; ok {
		return h, nil
	}
	ns, ok := l.snap.Lookup(e.NetnsIno)
	if !ok {
		return nil, fmt.Errorf("%w: netns %s", netnsfind.ErrGone, e.Netns)
	}
	h, err := ns.Open()
	if err != nil {
		return nil, err
	}
	l.handles[e.NetnsIno] = h
	return h, nil
}

// read is the value e's knob holds now, in e's namespace (status).
func (l *locator) read(e Entry) (string, error) {
	if e.NetnsIno == 0 {
		k, err := live.Parse(e.Knob, e.Netns, l.env)
		if err != nil {
			return "", err
		}
		return k.Read()
	}
	why, err := l.gone(e)
	if err != nil {
		return "", err
	}
	if why != "" {
		return "", errors.New(why)
	}
	h, err := l.handle(e)
	if err != nil {
		return "", err
	}
	k, err := live.ParseVia(e.Knob, e.Netns, h.Path(), l.env)
	if err != nil {
		return "", err
	}
	return k.Read()
}

func (l *locator) close() {
	for _, h := range l.handles {
		h.Close()
	}
}

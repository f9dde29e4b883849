package pipeline

import (
	"context"
	"fmt"
	"strings"

	"github.com/nettune/nettune/collect/netnsfind"
	"github.com/nettune/nettune/collect/owner"
	"github.com/nettune/nettune/internal/netns"
)

// NetnsHost is the --netns reference to nettune's own namespace alone (what an empty
// Options.Netns means to a Run). A namespace named "host" under /run/netns is reached by its
// path.
const NetnsHost = "host"

// The prefixes of references by owner: pod/NAMESPACE/NAME and container/ID.
const (
	refPod       = "pod/"
	refContainer = "container/"
)

// ResolveNetns turns a --netns reference into what a Run reads: "" for nettune's own
// namespace ("" and "host"), a name under /run/netns or a path as given, and the path of the
// namespace whose owner is the pod (pod/NAMESPACE/NAME) or holds the container
// (container/ID, the full ID or a prefix of one container only). A pod or container that no
// namespace belongs to is netns.ErrNotFound, as a name that does not exist is when it is
// opened; a prefix of several containers is ErrAmbiguous.
func ResolveNetns(ctx context.Context, ref, procRoot string, oo owner.Options) (string, error) {
	switch {
	case ref == "" || ref == NetnsHost:
		return "", nil
	case strings.HasPrefix(ref, refPod):
		ns, name, ok := strings.Cut(strings.TrimPrefix(ref, refPod), "/")
		if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
			return "", fmt.Errorf("%w: %q (want pod/NAMESPACE/NAME)", ErrBadReference, ref)
		}
		return findOwner(ctx, ref, procRoot, oo, func(o *owner.Owner) (bool, string) {
			return o.Pod.Namespace == ns && o.Pod.Name == name, ""
		})
	case strings.HasPrefix(ref, refContainer):
		id := strings.TrimPrefix(ref, refContainer)
		if id == "" || strings.Contains(id, "/") {
			return "", fmt.Errorf("%w: %q (want container/ID)", ErrBadReference, ref)
		}
		return findOwner(ctx, ref, procRoot, oo, func(o *owner.Owner) (bool, string) {
			for _, c := range o.Containers {
				if strings.HasPrefix(c.ID, id) {
					return true, c.ID
				}
			}
			for _, p := range o.Processes {
				if c := p.Cgroup.ContainerID; c != "" && strings.HasPrefix(c, id) {
					return true, c
				}
			}
			return false, ""
		})
	}
	return ref, nil
}

// ErrBadReference is a --netns reference that is malformed; ErrAmbiguous one that names
// more than one namespace. Both are bad input, like netns.ErrNotFound.
var (
	ErrBadReference = fmt.Errorf("bad netns reference")
	ErrAmbiguous    = fmt.Errorf("netns reference is ambiguous")
)

// findOwner is the path of the one namespace whose owner matches; match also says which
// container matched, so a prefix of two containers of the same namespace is not ambiguous.
func findOwner(ctx context.Context, ref, procRoot string, oo owner.Options, match func(*owner.Owner) (bool, string)) (string, error) {
	if oo.ProcRoot == "" {
		oo.ProcRoot = procRoot
	}
	snap, err := netnsfind.Discover(procRoot)
	if err != nil {
		return "", fmt.Errorf("resolve %s: discover namespaces: %w", ref, err)
	}
	r := owner.NewResolver(oo)
	var found []*netnsfind.Namespace
	var matched []string // what matched in each namespace found
	for i := range snap.Namespaces {
		ns := &snap.Namespaces[i]
		if ns.Host {
			continue // a host-network pod shares the node's namespace: --netns host
		}
		o := r.Namespace(ctx, ns)
		if ok, what := match(&o); ok {
			found, matched = append(found, ns), append(matched, what)
		}
	}
	switch {
	case len(found) == 0:
		return "", fmt.Errorf("%w: %s", netns.ErrNotFound, ref)
	case len(found) > 1:
		return "", fmt.Errorf("%w: %s matches %s in %s and %s in %s", ErrAmbiguous, ref,
			short(matched[0]), found[0].ID, short(matched[1]), found[1].ID)
	}
	p := found[0].Path()
	if p == "" {
		return "", fmt.Errorf("%w: %s (its namespace has no process or mount left)", netns.ErrNotFound, ref)
	}
	return p, nil
}

// short is a container ID as people quote it (12 characters), or what matched a pod.
func short(id string) string {
	if id == "" {
		return "the pod"
	}
	return "container " + id[:min(len(id), 12)]
}

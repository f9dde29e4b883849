package render

import (
	"fmt"
	"strings"

	"github.com/nettune/nettune/collect/owner"
	"github.com/nettune/nettune/pipeline"
)

// place names a namespace by its owner in a sentence: "on the host", "in pod
// default/dns-0", "in netns NAME", "in container NAME", "in the netns of pid 4242 nginx",
// "in netns net:[INODE]".
func place(ns *pipeline.NamespaceResult) string {
	return placeOf(ns, true)
}

// title is the same name as a heading: "the host", "pod default/dns-0", "netns NAME", ...
func title(ns *pipeline.NamespaceResult) string {
	return placeOf(ns, false)
}

func placeOf(ns *pipeline.NamespaceResult, sentence bool) string {
	pre := func(in, s string) string {
		if sentence {
			return in + " " + s
		}
		return s
	}
	o := &ns.Owner
	switch {
	case ns.Namespace.Host || o.Host: // nettune's own may be a pod's, when it runs in one
		if sentence {
			return "on the host"
		}
		return "the host"
	case o.Pod.Name != "":
		return pre("in", "pod "+o.Pod.Namespace+"/"+o.Pod.Name)
	case len(ns.Namespace.Names) > 0:
		return pre("in", "netns "+ns.Namespace.Names[0])
	}
	for _, c := range o.Containers {
		if !c.Sandbox {
			return pre("in", "container "+containerName(c))
		}
	}
	if len(o.Processes) > 0 {
		p := o.Processes[0]
		return pre("in the", fmt.Sprintf("netns of pid %d %s", p.PID, p.Comm))
	}
	return pre("in", "netns "+ns.Namespace.ID.String())
}

// containerName is a container's name, else its ID as people quote it (12 characters).
func containerName(c owner.Container) string {
	if c.Name != "" {
		return c.Name
	}
	return shortID(c.ID)
}

func shortID(id string) string { return id[:min(len(id), 12)] }

// ownerLines say who owns a namespace, for the head of its block: the namespace itself
// (inode, the path to enter it), the pod, its containers, its processes, and which source
// named them (with why richer ones did not).
func ownerLines(ns *pipeline.NamespaceResult) []string {
	o := &ns.Owner
	where := ns.Namespace.ID.String()
	if p := ns.Report.Netns; p != "" { // the path it was read through, to enter it
		where += " at " + p
	}
	lines := []string{"netns: " + where}
	if ns.Namespace.Host || o.Host {
		return lines
	}
	if o.Pod.Name != "" || o.Pod.UID != "" {
		pod := o.Pod.Namespace + "/" + o.Pod.Name
		if o.Pod.Name == "" {
			pod = "name unknown"
		}
		if o.Pod.UID != "" {
			pod += " (uid " + o.Pod.UID + ")"
		}
		lines = append(lines, "pod: "+pod)
	}
	if cs := containerList(o.Containers); cs != "" {
		lines = append(lines, "containers: "+cs)
	}
	if ps := processList(o); ps != "" {
		lines = append(lines, "processes: "+ps)
	}
	src := "attribution: " + string(o.Source)
	if o.Endpoint != "" {
		src += " (" + o.Endpoint + ")"
	}
	if o.Fallback != "" {
		src += "; " + o.Fallback
	}
	return append(lines, src)
}

// containerList is "coredns (containerd 0123456789ab), sandbox 89abcdef0123".
func containerList(cs []owner.Container) string {
	var parts []string
	for _, c := range cs {
		id := shortID(c.ID)
		if c.Runtime != "" {
			id = string(c.Runtime) + " " + id
		}
		switch {
		case c.Sandbox:
			parts = append(parts, "sandbox "+id)
		case c.Name != "":
			parts = append(parts, c.Name+" ("+id+")")
		default:
			parts = append(parts, id)
		}
	}
	return strings.Join(parts, ", ")
}

// processList is "4242 coredns, 4100 pause, and 3 more".
func processList(o *owner.Owner) string {
	var parts []string
	for _, p := range o.Processes {
		parts = append(parts, fmt.Sprintf("%d %s", p.PID, p.Comm))
	}
	if o.Omitted > 0 {
		parts = append(parts, fmt.Sprintf("and %d more", o.Omitted))
	}
	return strings.Join(parts, ", ")
}

package render

import (
	"io"

	"github.com/nettune/nettune/collect/netnsfind"
	"github.com/nettune/nettune/collect/owner"
	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/pipeline"
	"github.com/nettune/nettune/policy"
)

// NodeSchema names the JSON document of a node's interval (advise with no --netns;
// docs/schema.md). A report of one namespace (--netns) is still a Schema document.
const NodeSchema = "nettune.advise/v3"

// nodeDocument is advise's JSON over every namespace: how the interval was measured, the
// namespaces in the table's order (loss first, worst first), and what vanished or appeared.
type nodeDocument struct {
	Schema          string              `json:"schema"`
	Host            string              `json:"host"`
	Kernel          string              `json:"kernel,omitempty"`
	Mode            string              `json:"mode"`
	XDPMode         string              `json:"xdp_mode,omitempty"`
	BPFNote         string              `json:"bpf_note,omitempty"`
	Foreign         []model.ForeignProg `json:"foreign_programs,omitempty"`
	Coverage        *model.Coverage     `json:"bpf_coverage,omitempty"`
	IntervalSeconds float64             `json:"interval_seconds"`
	Loss            bool                `json:"loss"`    // some namespace lost packets (exit status 1)
	Verdict         string              `json:"verdict"` // the netns id of the namespace whose verdict is the node's; "" when none was read
	Namespaces      []nodeNamespace     `json:"namespaces"`
	Vanished        []string            `json:"vanished"` // netns ids sampled at the start only
	Appeared        []string            `json:"appeared"` // netns ids new at the end
	Errors          []string            `json:"errors"`
}

// nodeNamespace is one namespace: identity, owner, and its report as a Schema document has
// it (findings, plan, funnel, ...; the report's netns is the path it was read through, the
// one to enter it by, "" for nettune's own).
type nodeNamespace struct {
	ID          string    `json:"id"` // "net:[INODE]", stable while the namespace lives
	Inode       uint64    `json:"inode"`
	Host        bool      `json:"host"` // nettune's own namespace (host-wide counters)
	Names       []string  `json:"names"`
	Place       string    `json:"place"` // as the table names it: "on the host", "in pod default/dns-0"
	Owner       ownerJSON `json:"owner"`
	Loss        bool      `json:"loss"`
	Attribution *float64  `json:"bpf_attribution,omitempty"`
	*policy.Report
}

// ownerJSON is owner.Owner with the schema's names.
type ownerJSON struct {
	Pod        *podJSON        `json:"pod,omitempty"`
	Containers []containerJSON `json:"containers"`
	Processes  []processJSON   `json:"processes"`
	Omitted    int             `json:"processes_omitted,omitempty"`
	Source     string          `json:"source"`
	Endpoint   string          `json:"endpoint,omitempty"`
	Fallback   string          `json:"fallback,omitempty"`
}

type podJSON struct {
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name,omitempty"`
	UID       string `json:"uid,omitempty"`
}

type containerJSON struct {
	ID      string `json:"id"`
	Name    string `json:"name,omitempty"`
	Runtime string `json:"runtime,omitempty"`
	Sandbox bool   `json:"sandbox,omitempty"`
}

type processJSON struct {
	PID         int    `json:"pid"`
	Comm        string `json:"comm"`
	Cgroup      string `json:"cgroup,omitempty"`
	ContainerID string `json:"container_id,omitempty"`
}

// NodeAdvise writes a node's interval in format f. Prometheus has the metrics of nettune's
// own namespace, as with --netns host.
func NodeAdvise(w io.Writer, f Format, res *pipeline.NodeResult) error {
	switch f {
	case FormatTable:
		return NodeTable(w, res)
	case FormatJSON:
		return NodeJSON(w, res)
	case FormatHTML:
		return NodeHTML(w, res)
	}
	return errFormat("advise over every namespace", f)
}

// NodeJSON writes one node document.
func NodeJSON(w io.Writer, res *pipeline.NodeResult) error {
	v := newNodeView(res)
	m := res.Meta
	doc := nodeDocument{Schema: NodeSchema, Host: m.Host, Kernel: m.Kernel, Mode: m.Mode, XDPMode: m.XDPMode,
		BPFNote: uniqueNote(m.BPFNote), Foreign: m.Foreign, Coverage: m.Coverage, IntervalSeconds: v.interval(),
		Loss: len(v.lossy) > 0, Namespaces: []nodeNamespace{}, Vanished: ids(res.Vanished), Appeared: ids(res.Appeared),
		Errors: append([]string{}, res.Errors...)}
	if v.worst != nil {
		doc.Verdict = v.worst.Namespace.ID.String()
	}
	for _, list := range [][]*pipeline.NamespaceResult{v.lossy, v.noted, v.quiet} {
		for _, ns := range list {
			doc.Namespaces = append(doc.Namespaces, newNodeNamespace(ns))
		}
	}
	return writeJSON(w, doc)
}

func newNodeNamespace(ns *pipeline.NamespaceResult) nodeNamespace {
	return nodeNamespace{ID: ns.Namespace.ID.String(), Inode: ns.Namespace.ID.Ino, Host: ns.Own,
		Names: append([]string{}, ns.Namespace.Names...), Place: place(ns),
		Owner: newOwnerJSON(&ns.Owner), Loss: ns.Report.Loss(), Attribution: ns.Report.Attribution, Report: nonNil(ns.Report)}
}

func newOwnerJSON(o *owner.Owner) ownerJSON {
	j := ownerJSON{Containers: []containerJSON{}, Processes: []processJSON{}, Omitted: o.Omitted,
		Source: string(o.Source), Endpoint: o.Endpoint, Fallback: o.Fallback}
	if o.Pod != (owner.Pod{}) {
		j.Pod = &podJSON{Namespace: o.Pod.Namespace, Name: o.Pod.Name, UID: o.Pod.UID}
	}
	for _, c := range o.Containers {
		j.Containers = append(j.Containers, containerJSON{ID: c.ID, Name: c.Name, Runtime: string(c.Runtime), Sandbox: c.Sandbox})
	}
	for _, p := range o.Processes {
		j.Processes = append(j.Processes, processJSON{PID: p.PID, Comm: p.Comm, Cgroup: p.Cgroup.Path, ContainerID: p.Cgroup.ContainerID})
	}
	return j
}

func ids(list []netnsfind.ID) []string {
	out := make([]string, 0, len(list))
	for _, id := range list {
		out = append(out, id.String())
	}
	return out
}

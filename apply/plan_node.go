package apply

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/policy"
)

// MaxPlanNamespaces bounds the namespaces of a node plan: a node with thousands of pods has
// thousands of namespaces, never this many.
const MaxPlanNamespaces = 1 << 16

// NamespacePlan is the reviewed plan of one namespace of a node document: the namespace as
// advise found it (inode, owner, how it was named) and its actions.
type NamespacePlan struct {
	Inode uint64
	Own   bool // nettune's own namespace when the plan was made ("host": true)
	// Ref is how the plan named the namespace: its first ip netns name, else the path it was
	// read through. With no owner, it is what shows the namespace with the inode is still the
	// one measured (as for a journal entry without an owner).
	Ref     string
	Owner   *NetnsOwner
	Actions []policy.Action
}

// nodeNamespaceDoc is what a node document's namespace holds that a plan needs; its other
// fields (findings, funnel, ...) are not read.
type nodeNamespaceDoc struct {
	ID    string            `json:"id"`
	Inode uint64            `json:"inode"`
	Host  bool              `json:"host"`
	Names []string          `json:"names"`
	Netns string            `json:"netns"`
	Owner planOwnerDoc      `json:"owner"`
	Plan  []json.RawMessage `json:"plan"`
}

type planOwnerDoc struct {
	Pod *struct {
		Namespace string `json:"namespace"`
		Name      string `json:"name"`
		UID       string `json:"uid"`
	} `json:"pod"`
	Containers []struct {
		ID      string `json:"id"`
		Sandbox bool   `json:"sandbox"`
	} `json:"containers"`
	Processes []struct {
		ContainerID string `json:"container_id"`
	} `json:"processes"`
}

// netnsOwner is what identifies the owner, as ownerOf keeps it from a node run: the pod, its
// UID, and the container holding the namespace (the sandbox, else the first container, else
// the container of the first process in one).
func (o planOwnerDoc) netnsOwner() *NetnsOwner {
	var n NetnsOwner
	if p := o.Pod; p != nil {
		if p.Namespace != "" && p.Name != "" {
			n.Pod = p.Namespace + "/" + p.Name
		}
		n.PodUID = p.UID
	}
	for _, c := range o.Containers {
		if n.Container == "" || c.Sandbox {
			n.Container = c.ID
		}
		if c.Sandbox {
			break
		}
	}
	for _, p := range o.Processes {
		if n.Container != "" {
			break
		}
		n.Container = p.ContainerID
	}
	if n == (NetnsOwner{}) {
		return nil
	}
	return &n
}

// parseNodePlan reads the plans of a node document (NodeSchema) whose top level is top. Beyond
// what every plan must be (parsePlan), no key appears twice anywhere in the document; every
// namespace has its "id", "inode", "host", "owner" and "plan", its id is net:[inode], no
// inode appears twice, at most one namespace is nettune's own (and that one has no path),
// every other has a clean path and valid ip netns names, its owner names a pod and container
// as Kubernetes and the runtimes do, and each of its actions is in that namespace: a global
// knob names no namespace, any other the namespace it is listed under.
func parseNodePlan(b []byte, top map[string]json.RawMessage) (*Plan, error) {
	if err := uniqueKeys(b); err != nil {
		return nil, badPlan("%v", err)
	}
	raw, ok := top["namespaces"]
	if !ok {
		return nil, badPlan(`no "namespaces"`)
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, badPlan("namespaces: %v", err)
	}
	if len(items) > MaxPlanNamespaces {
		return nil, badPlan("%d namespaces, more than %d", len(items), MaxPlanNamespaces)
	}
	p := &Plan{Schema: NodeSchema, Namespaces: make([]NamespacePlan, 0, len(items))}
	seen := map[uint64]bool{}
	own := false
	for i, item := range items {
		ns, err := planNamespace(item)
		if err != nil {
			return nil, badPlan("namespace %d: %v", i+1, err)
		}
		switch {
		case seen[ns.Inode]:
			return nil, badPlan("namespace %d: net:[%d] twice", i+1, ns.Inode)
		case ns.Own && own:
			return nil, badPlan("namespace %d: a second namespace of nettune's own (\"host\": true)", i+1)
		}
		seen[ns.Inode], own = true, own || ns.Own
		p.Namespaces = append(p.Namespaces, ns)
	}
	return p, nil
}

// planNamespace reads and checks one namespace of a node document.
func planNamespace(b []byte) (NamespacePlan, error) {
	var ns NamespacePlan
	f, err := fields(b)
	if err != nil {
		return ns, err
	}
	for _, k := range []string{"id", "inode", "host", "owner", "plan"} {
		if _, ok := f[k]; !ok {
			return ns, fmt.Errorf("no %q", k)
		}
	}
	var doc nodeNamespaceDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		return ns, err
	}
	switch {
	case doc.Inode == 0:
		return ns, errors.New("inode 0")
	case doc.ID != fmt.Sprintf("net:[%d]", doc.Inode):
		return ns, fmt.Errorf("id %q is not that of inode %d", doc.ID, doc.Inode)
	case doc.Host && doc.Netns != "":
		return ns, fmt.Errorf("nettune's own namespace with a path %q", doc.Netns)
	case !doc.Host && doc.Netns == "":
		return ns, errors.New("no \"netns\": nothing names it")
	}
	if err := validNetns(doc.Netns); err != nil {
		return ns, err
	}
	for _, name := range doc.Names {
		if err := validNetns(name); err != nil || name == "" || strings.Contains(name, "/") {
			return ns, fmt.Errorf("netns name %q", name)
		}
	}
	ns.Inode, ns.Own, ns.Ref, ns.Owner = doc.Inode, doc.Host, doc.Netns, doc.Owner.netnsOwner()
	if len(doc.Names) > 0 {
		ns.Ref = doc.Names[0]
	}
	if ns.Own {
		ns.Ref, ns.Owner = "", nil // nettune's own namespace is found by its inode alone
	}
	if err := ns.Owner.validate(); err != nil {
		return ns, err
	}
	if ns.Actions, err = planActions(f["plan"]); err != nil {
		return ns, err
	}
	for _, act := range ns.Actions {
		want := doc.Netns
		if act.Scope == model.ScopeGlobal { // planAction checked it is the knob table's
			want = ""
		}
		if act.Netns != want {
			return ns, fmt.Errorf("%s: netns %q in the plan of %s", act.Knob, act.Netns, doc.ID)
		}
	}
	return ns, nil
}

// uniqueKeys refuses a JSON document with a key twice in any object: encoding/json would keep
// the last silently, and a person reading the plan may have seen the first.
func uniqueKeys(b []byte) error {
	type object struct {
		keys    map[string]bool
		wantKey bool
	}
	var stack []*object // nil entries are arrays
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	for {
		t, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		var top *object
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if d, ok := t.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:len(stack)-1]
			continue
		}
		if top != nil && top.wantKey {
			key := t.(string) // the decoder allows nothing else here
			if top.keys[key] {
				return fmt.Errorf("key %q twice", key)
			}
			top.keys[key], top.wantKey = true, false
			continue
		}
		if top != nil {
			top.wantKey = true // this value ends a member
		}
		switch t {
		case json.Delim('{'):
			stack = append(stack, &object{keys: map[string]bool{}, wantKey: true})
		case json.Delim('['):
			stack = append(stack, nil)
		}
	}
}

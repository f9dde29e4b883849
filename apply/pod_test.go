package apply

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/nettune/nettune/collect/owner"
	"github.com/nettune/nettune/internal/ctrtest"
	"github.com/nettune/nettune/pipeline"
)

// TestPodNamespaceJournaledByOwner: a change in a pod made through containerd's CRI is
// entered through the runtime's netns mount, journaled with the pod (name, UID) and its
// sandbox container; status finds the namespace again by inode and owner; once the pod is
// deleted, rollback says its namespace no longer exists, naming the pod, and exits cleanly.
func TestPodNamespaceJournaledByOwner(t *testing.T) {
	c := ctrtest.Start(t)
	p := c.RunPod(t, "shop", "web-0")
	path := filepath.Join("/proc", strconv.Itoa(p.PID(t)), "ns", "net")
	ns := found(t, path)
	o := Options{StateDir: t.TempDir(), ConfRoot: t.TempDir()}
	_, next := raised(t, o, somaxconn, path)
	res := lossy(ns, action(somaxconn, ns.Path(), next))
	res.Owner = owner.NewResolver(owner.Options{CRISockets: []string{c.Socket}, PodLogDir: c.PodLogDir,
		ContainerLogDir: c.ContainerLogDir}).Namespace(context.Background(), &ns)
	applied, err := New(o).ApplyNode(&pipeline.NodeResult{Namespaces: []pipeline.NamespaceResult{res}})
	if err != nil || len(applied.Steps) != 1 {
		t.Fatalf("apply: %v %+v", err, applied)
	}
	st := applied.Steps[0]
	want := NetnsOwner{Pod: "shop/web-0", PodUID: p.UID, Container: p.ID}
	if st.Decision != DecideChange || st.NetnsOwner == nil || *st.NetnsOwner != want || st.Netns != ns.Mounts[0] ||
		st.Command != "nsenter --net="+ns.Mounts[0]+" sysctl -w net.core.somaxconn="+next {
		t.Fatalf("step %+v (owner %+v), want owner %+v in %s", st, st.NetnsOwner, want, ns.Mounts[0])
	}
	lines, err := readJournal(o.StateDir)
	if err != nil || lines[1].NetnsOwner == nil || *lines[1].NetnsOwner != want || lines[1].NetnsIno != ns.ID.Ino {
		t.Fatalf("journal: %v %+v", err, lines)
	}
	status, err := New(o).Status()
	if err != nil || len(status.Knobs) != 1 || status.Knobs[0].Current != next || status.Knobs[0].Error != "" {
		t.Fatalf("status while the pod runs: %v %+v", err, status)
	}

	p.Remove(t)
	rb, err := New(o).Rollback("")
	if err != nil || len(rb.Steps) != 1 || rb.Steps[0].Decision != DecideGone ||
		!strings.Contains(rb.Steps[0].Note, "(pod shop/web-0) no longer exists") {
		t.Fatalf("rollback after the pod was deleted: %v %+v", err, rb)
	}
}

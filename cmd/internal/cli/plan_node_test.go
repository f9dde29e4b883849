package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nettune/nettune/apply"
	"github.com/nettune/nettune/internal/lab"
)

// TestApplyReviewedNodePlan: advise -o json with no --netns measures the node, where one lab
// namespace's accept queue overflows, and writes its plan (nettune.advise/v3); apply --plan
// applies that namespace's somaxconn there and nowhere else. Two namespaces added to the
// reviewed document are skipped, one line each: one deleted since (its inode is gone), one
// whose inode is now another namespace's (made since: the plan's owner is a pod this one is not). A
// document that breaks the knob table exits 2 and changes nothing. Rollback undoes it.
func TestApplyReviewedNodePlan(t *testing.T) {
	lab.RequireRoot(t)
	v := pair(t)
	l := newLoop(t, v.B)
	lab.SetSysctl(t, v.B, "net.core.somaxconn", strconv.Itoa(acceptLow))
	host, quiet := sysctl(t, nil, "net.core.somaxconn"), sysctl(t, v.A, "net.core.somaxconn")
	app := startApp(t, v.B, v.BAddr, true)
	load := func(ctx context.Context) { storms(ctx, v, func() string { return app.addr }, stormSize, time.Minute) }
	var code int
	var out, stderr string
	during(load, func() { code, out, stderr = run(t, "advise", "--no-bpf", "--interval", "2s", "-o", "json") })
	app.close()
	var doc map[string]any
	if code != ExitLoss || json.Unmarshal([]byte(out), &doc) != nil || doc["schema"] != apply.NodeSchema {
		t.Fatalf("advise over the node: exit %d, %.300s\n%s", code, out, stderr)
	}
	lossy, action := namespaceOf(t, doc, v.B.Name)
	if action == nil {
		t.Fatalf("the plan of %s has no somaxconn: %+v", v.B.Name, lossy["plan"])
	}
	proposed := action["proposed"].(string)

	// A namespace of the plan deleted since: an unnamed one, gone with its process.
	doomed, doomedPath := lab.UnshareNet(t)
	doomedIno := lab.Inode(t, doomedPath)
	_ = doomed.Process.Kill()
	_ = doomed.Wait()
	// One whose inode is now a namespace made since, which is not the plan's pod.
	other := lab.NewNS(t, "plo")
	lab.SetSysctl(t, other, "net.core.somaxconn", strconv.Itoa(acceptLow)) // what the plan saw: only its identity protects it
	otherBefore := sysctl(t, other, "net.core.somaxconn")
	impostorIno := lab.Inode(t, other.Path)
	addNamespace := func(ino uint64, path string, owner map[string]any) {
		act := map[string]any{}
		for k, val := range action {
			act[k] = val
		}
		act["netns"] = path
		doc["namespaces"] = append(doc["namespaces"].([]any), map[string]any{
			"id": fmt.Sprintf("net:[%d]", ino), "inode": ino, "host": false, "names": []any{}, "netns": path,
			"owner": owner, "plan": []any{act}, "loss": true})
	}
	addNamespace(doomedIno, doomedPath, map[string]any{"containers": []any{}, "processes": []any{}})
	addNamespace(impostorIno, "/proc/1/ns/net", map[string]any{"containers": []any{}, "processes": []any{},
		"pod": map[string]any{"namespace": "default", "name": "web-0", "uid": "0b5e4d2a-7c1f-4e3b-9a55-3f7f1c2d9e10"}})
	planFile := writeDoc(t, doc)

	applyPlan := func(file string, extra ...string) (int, apply.Result, string) {
		code, out, stderr := run(t, l.args("apply", append([]string{"--plan", file, "-o", "json"}, extra...)...)...)
		var res apply.Result
		if code != ExitUsage {
			if err := json.Unmarshal([]byte(out), &res); err != nil {
				t.Fatalf("apply --plan: exit %d, output not JSON: %v\n%s%s", code, err, out, stderr)
			}
		}
		return code, res, stderr
	}

	// Untrusted input: one action the knob table refuses and nothing is written.
	action["scope"] = "global"
	bad := writeDoc(t, doc)
	action["scope"] = "netns"
	if code, _, stderr := applyPlan(bad); code != ExitUsage || !strings.Contains(stderr, "invalid plan") {
		t.Fatalf("a plan that lies about a scope: exit %d %s", code, stderr)
	}
	if got := sysctl(t, v.B, "net.core.somaxconn"); got != strconv.Itoa(acceptLow) {
		t.Fatalf("somaxconn %s after a refused plan", got)
	}

	for _, dry := range []bool{true, false} {
		var extra []string
		if dry {
			extra = []string{"--dry-run"}
		}
		code, res, stderr := applyPlan(planFile, extra...)
		if code != ExitOK {
			t.Fatalf("apply --plan (dry run %v): exit %d\n%s", dry, code, stderr)
		}
		var changed *apply.Step
		changes := 0
		gone := map[uint64]string{}
		for i, s := range res.Steps {
			switch s.Decision {
			case apply.DecideChange:
				changed = &res.Steps[i]
				changes++
			case apply.DecideGone:
				gone[s.NetnsIno] = s.Note
			}
		}
		if changes != 1 || changed.Knob != "sysctl:net.core.somaxconn" || changed.Netns != v.B.Name || changed.NetnsIno != lab.Inode(t, v.B.Path) ||
			(!dry && (changed.Got != proposed || res.ID == "")) {
			t.Fatalf("dry run %v: the lossy namespace's step %+v (plan proposed %s): %+v", dry, changed, proposed, res.Steps)
		}
		if !strings.Contains(gone[doomedIno], "no longer exists") ||
			!strings.Contains(gone[impostorIno], "its inode now names another namespace") ||
			!strings.Contains(gone[impostorIno], "pod default/web-0") {
			t.Errorf("dry run %v: the namespaces that are not the plan's: %v", dry, gone)
		}
	}
	if got := sysctl(t, v.B, "net.core.somaxconn"); got != proposed {
		t.Errorf("somaxconn in %s = %s, the plan proposed %s", v.B.Name, got, proposed)
	}
	// Journaled as apply over the node journals: by the namespace's name and inode.
	journal, err := os.ReadFile(filepath.Join(l.stateDir, "journal.jsonl"))
	if want := fmt.Sprintf(`"netns":%q,"netns_ino":%d,`, v.B.Name, lab.Inode(t, v.B.Path)); err != nil || !strings.Contains(string(journal), want) {
		t.Errorf("journal (%v) lacks %s:\n%s", err, want, journal)
	}
	if got := sysctl(t, v.A, "net.core.somaxconn"); got != quiet {
		t.Errorf("somaxconn in the quiet %s = %s, was %s", v.A.Name, got, quiet)
	}
	if got := sysctl(t, other, "net.core.somaxconn"); got != otherBefore {
		t.Errorf("somaxconn in %s, the inode the plan gave another pod = %s, was %s", other.Name, got, otherBefore)
	}
	if got := sysctl(t, nil, "net.core.somaxconn"); got != host {
		t.Errorf("somaxconn of the host = %s, was %s", got, host)
	}
	l.rollback()
	if got := sysctl(t, v.B, "net.core.somaxconn"); got != strconv.Itoa(acceptLow) {
		t.Errorf("somaxconn after rollback = %s, want %d", got, acceptLow)
	}
}

// namespaceOf is the namespace of a node document that ip netns names name, and its
// somaxconn action (nil without one).
func namespaceOf(t *testing.T, doc map[string]any, name string) (ns, somaxconn map[string]any) {
	t.Helper()
	for _, n := range doc["namespaces"].([]any) {
		n := n.(map[string]any)
		names, _ := n["names"].([]any)
		if len(names) == 0 || names[0] != name {
			continue
		}
		for _, a := range n["plan"].([]any) {
			if a := a.(map[string]any); a["knob"] == "sysctl:net.core.somaxconn" {
				return n, a
			}
		}
		return n, nil
	}
	t.Fatalf("no namespace %s in the node document", name)
	return nil, nil
}

func writeDoc(t *testing.T, doc map[string]any) string {
	t.Helper()
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "plan.json")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

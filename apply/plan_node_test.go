package apply

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
)

// nodeGolden is advise's JSON over a node as render writes it (host node-1): two lossy
// namespaces proposing the same global knob, nettune's own, two quiet ones.
const nodeGolden = "../render/testdata/node/node.json"

func goldenNodePlan(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile(nodeGolden)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// somaxconnIn is a per-namespace action as advise writes it for the namespace read at path.
func somaxconnIn(path string) map[string]any {
	return map[string]any{"knob": "sysctl:net.core.somaxconn", "netns": path, "current": "4096", "proposed": "8192",
		"command": "nsenter --net=" + path + " sysctl -w net.core.somaxconn=8192", "risk": "", "scope": "netns",
		"disruptive": false, "findings": []any{"tcp-accept-queue/x"}, "why": "accept queue overflows"}
}

// editNode decodes the node golden, lets fn change its namespaces, and encodes it again.
func editNode(t *testing.T, fn func(doc map[string]any, ns []map[string]any)) []byte {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(goldenNodePlan(t), &doc); err != nil {
		t.Fatal(err)
	}
	var ns []map[string]any
	for _, n := range doc["namespaces"].([]any) {
		ns = append(ns, n.(map[string]any))
	}
	fn(doc, ns)
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseNodePlan(t *testing.T) {
	withSomaxconn := editNode(t, func(_ map[string]any, ns []map[string]any) {
		ns[0]["plan"] = append(ns[0]["plan"].([]any), somaxconnIn("/var/run/netns/cni-1c2d"))
	})
	p, err := parsePlan(withSomaxconn, "node-1")
	if err != nil {
		t.Fatal(err)
	}
	checkParsed(t, p)
	if p.Schema != NodeSchema || len(p.Namespaces) != 5 || len(p.All()) != 3 {
		t.Fatalf("%+v", p)
	}
	dns, unshared, own := p.Namespaces[0], p.Namespaces[1], p.Namespaces[2]
	wantOwner := NetnsOwner{Pod: "default/dns-0", PodUID: "0e2f6a1b-7c3d-4e5f-9a8b-1c2d3e4f5a6b",
		Container: "9a8b7c6d5e4f30211203948576abcdef0123456789abcdef0123456789abcdef"} // the sandbox's
	switch {
	case dns.Inode != 4026532402 || dns.Own || dns.Ref != "cni-1c2d" || dns.Owner == nil || *dns.Owner != wantOwner:
		t.Errorf("the pod's namespace: %+v %+v", dns, dns.Owner)
	case len(dns.Actions) != 2 || dns.Actions[1].Netns != "/var/run/netns/cni-1c2d":
		t.Errorf("the pod's plan: %+v", dns.Actions)
	case unshared.Ref != "/proc/4242/ns/net" || unshared.Owner != nil:
		t.Errorf("a namespace of no container: %+v", unshared)
	case !own.Own || own.Inode != 4026531840 || own.Ref != "" || len(own.Actions) != 0:
		t.Errorf("nettune's own: %+v", own)
	}

	golden := string(goldenNodePlan(t))
	for name, tc := range map[string]struct {
		doc []byte
		why string
	}{
		"no namespaces": {editNode(t, func(d map[string]any, _ []map[string]any) { delete(d, "namespaces") }), `no "namespaces"`},
		"namespaces not a list": {editNode(t, func(d map[string]any, _ []map[string]any) { d["namespaces"] = "all" }),
			"namespaces:"},
		"a namespace without plan": {editNode(t, func(_ map[string]any, ns []map[string]any) { delete(ns[1], "plan") }),
			`namespace 2: no "plan"`},
		"a namespace without inode": {editNode(t, func(_ map[string]any, ns []map[string]any) { delete(ns[0], "inode") }),
			`namespace 1: no "inode"`},
		"inode 0": {editNode(t, func(_ map[string]any, ns []map[string]any) { ns[0]["inode"], ns[0]["id"] = 0, "net:[0]" }),
			"inode 0"},
		"id of another inode": {editNode(t, func(_ map[string]any, ns []map[string]any) { ns[0]["inode"] = 4026532503 }),
			`id "net:[4026532402]" is not that of inode 4026532503`},
		"an inode twice": {editNode(t, func(_ map[string]any, ns []map[string]any) {
			ns[1]["inode"], ns[1]["id"] = ns[0]["inode"], ns[0]["id"]
		}), "net:[4026532402] twice"},
		"two own namespaces": {editNode(t, func(_ map[string]any, ns []map[string]any) {
			ns[3]["host"] = true
			delete(ns[3], "netns")
		}), "a second namespace of nettune's own"},
		"own with a path": {editNode(t, func(_ map[string]any, ns []map[string]any) { ns[2]["netns"] = "/proc/1/ns/net" }),
			"nettune's own namespace with a path"},
		"no path": {editNode(t, func(_ map[string]any, ns []map[string]any) { delete(ns[1], "netns") }), "nothing names it"},
		"path not clean": {editNode(t, func(_ map[string]any, ns []map[string]any) { ns[1]["netns"] = "/proc/../etc" }),
			"not a clean absolute path"},
		"name with a slash": {editNode(t, func(_ map[string]any, ns []map[string]any) { ns[0]["names"] = []any{"a/b"} }),
			`netns name "a/b"`},
		"bad pod": {editNode(t, func(_ map[string]any, ns []map[string]any) {
			ns[0]["owner"].(map[string]any)["pod"].(map[string]any)["name"] = "dns 0; reboot"
		}), "netns owner pod"},
		"bad container": {editNode(t, func(_ map[string]any, ns []map[string]any) {
			ns[0]["owner"].(map[string]any)["containers"].([]any)[0].(map[string]any)["id"] = "../../x"
		}), "netns owner container"},
		"action in another namespace": {editNode(t, func(_ map[string]any, ns []map[string]any) {
			ns[0]["plan"] = append(ns[0]["plan"].([]any), somaxconnIn("/run/netns/lab"))
		}), `netns "/run/netns/lab" in the plan of net:[4026532402]`},
		"action of the own namespace in another": {editNode(t, func(_ map[string]any, ns []map[string]any) {
			ns[2]["plan"] = []any{somaxconnIn("/var/run/netns/cni-1c2d")}
		}), "in the plan of net:[4026531840]"},
		"global action naming a namespace": {editNode(t, func(_ map[string]any, ns []map[string]any) {
			ns[0]["plan"].([]any)[0].(map[string]any)["netns"] = "/var/run/netns/cni-1c2d"
		}), "sysctl:net.core.rmem_default: netns"},
		"unknown knob": {editNode(t, func(_ map[string]any, ns []map[string]any) {
			ns[0]["plan"].([]any)[0].(map[string]any)["knob"] = "sysctl:kernel.core_pattern"
		}), "unknown knob"},
		"unknown action field": {editNode(t, func(_ map[string]any, ns []map[string]any) {
			ns[0]["plan"].([]any)[0].(map[string]any)["exec"] = "reboot"
		}), `unknown field "exec"`},
		"scope lies": {editNode(t, func(_ map[string]any, ns []map[string]any) {
			ns[0]["plan"].([]any)[0].(map[string]any)["scope"] = "netns"
		}), `scope "netns"`},
		"duplicate key deep down": {[]byte(strings.Replace(golden, `"uid": "0e2f6a1b`, `"uid": "x", "uid": "0e2f6a1b`, 1)),
			`key "uid" twice`},
		"duplicate inode key": {[]byte(strings.Replace(golden, `"inode": 4026532402`, `"inode": 4026532503, "inode": 4026532402`, 1)),
			`key "inode" twice`},
		"too many namespaces": {editNode(t, func(d map[string]any, _ []map[string]any) {
			d["namespaces"] = make([]any, MaxPlanNamespaces+1)
		}), "more than 65536"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := parsePlan(tc.doc, "node-1")
			if !errors.Is(err, ErrPlan) || !strings.Contains(err.Error(), tc.why) {
				t.Fatalf("err = %v, want ErrPlan saying %q", err, tc.why)
			}
		})
	}
	if _, err := parsePlan(goldenNodePlan(t), "node-2"); !errors.Is(err, ErrPlan) || !strings.Contains(err.Error(), "made on host") {
		t.Errorf("a node plan of another host: %v", err)
	}
}

// FuzzParseNodePlan: any input either is refused as a plan or yields namespaces and actions
// that hold what parseNodePlan promises.
func FuzzParseNodePlan(f *testing.F) {
	f.Add(goldenNodePlan(f))
	f.Add([]byte(`{"schema":"nettune.advise/v3","host":"node-1","namespaces":[{"id":"net:[7]","inode":7,"host":false,"names":["a"],"netns":"/run/netns/a","owner":{"containers":[],"processes":[]},"plan":[{"knob":"sysctl:net.core.somaxconn","netns":"/run/netns/a","current":"1","proposed":"2","scope":"netns","disruptive":false,"findings":[],"why":"","risk":"","command":""}]}]}`))
	f.Add([]byte(`{"schema":"nettune.advise/v3","host":"node-1","namespaces":[]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parsePlan(b, "node-1")
		if err != nil {
			if !errors.Is(err, ErrPlan) {
				t.Fatalf("error not ErrPlan: %v", err)
			}
			return
		}
		checkParsed(t, p)
	})
}

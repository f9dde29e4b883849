package collect

import (
	"reflect"
	"testing"
	"time"

	"github.com/nettune/nettune/collect/netnsfind"
	"github.com/nettune/nettune/internal/lab"
)

// A Node gives a namespace's samples the host's global sysctls and no per-netns value until
// ReadSettings reads the namespace's own; with SettingsEvery (serve) the next samples keep
// them, sharing one map while nothing it was made of changed.
func TestNodeReadSettings(t *testing.T) {
	lab.RequireRoot(t)
	ns := lab.NewNS(t, "nodeset")
	lab.SetSysctl(t, ns, "net.core.somaxconn", "777")
	ino := lab.Inode(t, ns.Path)
	n, err := NewNode(NodeOptions{SettingsEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	sample := func() (*NodeSample, *NamespaceSample) {
		t.Helper()
		snap, err := netnsfind.Discover("/proc")
		if err != nil {
			t.Fatal(err)
		}
		s, err := n.Sample(snap)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := s.Lookup(ino)
		if !ok {
			t.Fatalf("netns %s not sampled", ns.Name)
		}
		return s, got
	}

	s1, got := sample()
	if _, ok := got.Sample.Sysctls["net.core.somaxconn"]; got.Settings || ok || got.Sample.Sysctls["net.core.rmem_max"] == "" {
		t.Fatalf("before ReadSettings: settings %t, sysctls %v: want the host's global ones only", got.Settings, got.Sample.Sysctls)
	}
	if errs := n.ReadSettings(s1, []uint64{ino}); len(errs) != 0 {
		t.Fatal(errs)
	}
	if !got.Settings || got.Sample.Sysctls["net.core.somaxconn"] != "777" || got.Sample.Sysctls["net.core.rmem_max"] == "" {
		t.Fatalf("after ReadSettings: settings %t, sysctls %v", got.Settings, got.Sample.Sysctls)
	}
	_, next := sample()
	if !next.Settings || next.Sample.Sysctls["net.core.somaxconn"] != "777" {
		t.Fatalf("next sample: settings %t, somaxconn %q, want the namespace's kept 777", next.Settings, next.Sample.Sysctls["net.core.somaxconn"])
	}
	if reflect.ValueOf(next.Sample.Sysctls).UnsafePointer() != reflect.ValueOf(got.Sample.Sysctls).UnsafePointer() {
		t.Error("next sample made a new map of the same sysctls")
	}
}

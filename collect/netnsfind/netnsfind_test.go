package netnsfind

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestDiscoverFixture(t *testing.T) {
	root := procTree(t, "testdata/procs-6.18.txt", "testdata/mountinfo-6.18", "net:[4026531833]")
	s, err := Discover(root)
	if err != nil {
		t.Fatal(err)
	}
	if s.Host != (ID{Dev: 4, Ino: 4026531833}) && s.Host != (ID{Ino: 4026531833}) {
		t.Errorf("host %+v, want inode 4026531833", s.Host)
	}
	host := s.Namespaces[0]
	// PID 1 is absent from the capture: the host is kthreadd's (PID 2) namespace.
	if !host.Host || host.ID.Ino != 4026531833 || len(host.PIDs) != 102 || host.PIDs[0] != 2 {
		t.Errorf("first namespace %v host=%t with %d processes from %v, want the host's 102 from PID 2",
			host.ID, host.Host, len(host.PIDs), host.PIDs[:1])
	}
	// The devices come from the mount table (0:4): a fixture tree has no real nsfs to stat.
	want := []Namespace{
		{ID: ID{4, 4026532174}, Names: []string{"bpfS543ddb"}, Mounts: []string{"/run/netns/bpfS543ddb"}, PIDs: []int{17168}},
		{ID: ID{4, 4026533239}, Names: []string{"sp ace"}, Mounts: []string{"/run/netns/sp ace"}},
		{ID: ID{4, 4026533304}, Names: []string{"fixa"}, Mounts: []string{"/run/netns/fixa"}},
		{ID: ID{4, 4026533370}, Mounts: []string{"/run/docker/netns/0f2a7c1d3e4b"}},
		{ID: ID{0, 4026533435}, PIDs: []int{19514}},
	}
	if diff := cmp.Diff(want, s.Namespaces[1:], cmpopts.IgnoreUnexported(Namespace{}), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("namespaces (-want +got):\n%s", diff)
	}
	if n, ok := s.Lookup(4026533435); !ok || n.Path() != root+"/19514/ns/net" {
		t.Errorf("Lookup(unnamed) = %v, %t; want path %s/19514/ns/net", n, ok, root)
	}
	if n, _ := s.Lookup(4026533239); n.Path() != "/run/netns/sp ace" {
		t.Errorf("named path %q", n.Path())
	}
	if _, ok := s.Lookup(1); ok {
		t.Error("Lookup of an unknown inode succeeded")
	}
}

// TestDiscoverPreference: a namespace mounted both by a runtime and under /run/netns is
// shown by its /run/netns path, which is also its name; a process in a namespace whose link
// cannot be parsed is skipped.
func TestDiscoverPreference(t *testing.T) {
	root := t.TempDir()
	nsLink(t, root, "1", "net:[10]")
	nsLink(t, root, "7", "net:[20]")
	nsLink(t, root, "8", "garbage")
	nsLink(t, root, "self", "net:[10]")
	mi := "30 27 0:4 net:[20] /var/lib/ctr/netns/cni-1 rw - nsfs nsfs rw\n" +
		"31 27 0:4 net:[20] /run/netns/web rw - nsfs nsfs rw\n" +
		"32 27 0:4 net:[20] /var/run/netns/web rw - nsfs nsfs rw\n"
	writeFile(t, root+"/self/mountinfo", mi)
	s, err := Discover(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Namespaces) != 2 {
		t.Fatalf("%d namespaces, want 2", len(s.Namespaces))
	}
	n := s.Namespaces[1]
	if n.Path() != "/run/netns/web" || !cmp.Equal(n.Names, []string{"web"}) || len(n.Mounts) != 3 || !cmp.Equal(n.PIDs, []int{7}) {
		t.Errorf("got path %s names %v mounts %v pids %v", n.Path(), n.Names, n.Mounts, n.PIDs)
	}
}

// TestDiscoverNoHost: with PID 1's link unreadable and PID 2 not kthreadd (a PID
// namespace), no namespace is called the host.
func TestDiscoverNoHost(t *testing.T) {
	root := t.TempDir()
	nsLink(t, root, "2", "net:[10]")
	writeFile(t, root+"/2/comm", "sh\n")
	nsLink(t, root, "self", "net:[10]")
	writeFile(t, root+"/self/mountinfo", "")
	s, err := Discover(root)
	if err != nil {
		t.Fatal(err)
	}
	if s.Host != (ID{}) || len(s.Namespaces) != 1 || s.Namespaces[0].Host {
		t.Errorf("host %v, namespaces %+v", s.Host, s.Namespaces)
	}
}

func TestDiscoverErrors(t *testing.T) {
	if _, err := Discover(t.TempDir()); err == nil {
		t.Error("a root without self/mountinfo gave no error")
	}
	root := t.TempDir()
	writeFile(t, root+"/self/mountinfo", "45 27 0:4 net:[oops] /run/netns/x rw - nsfs nsfs rw\n")
	if _, err := Discover(root); err == nil {
		t.Error("a malformed nsfs line gave no error")
	}
}

func TestLinkInode(t *testing.T) {
	for in, want := range map[string]uint64{
		"net:[4026531840]": 4026531840, "net:[1]": 1, "net:[]": 0, "net:[0]": 0, "mnt:[5]": 0,
		"net:[12": 0, "net:[1a]": 0, "net:[99999999999999999999999]": 0, "": 0,
	} {
		got, ok := linkInode([]byte(in))
		if got != want || ok != (want != 0) {
			t.Errorf("linkInode(%q) = %d, %t; want %d", in, got, ok, want)
		}
	}
}

package pipeline

import (
	"context"
	"errors"
	"testing"

	"github.com/nettune/nettune/collect/owner"
	"github.com/nettune/nettune/internal/netns"
)

// References that need no discovery resolve as given; malformed ones are bad input.
func TestResolveNetnsForms(t *testing.T) {
	for ref, want := range map[string]string{"": "", "host": "", "web-7f9c": "web-7f9c", "/proc/1/ns/net": "/proc/1/ns/net"} {
		got, err := ResolveNetns(context.Background(), ref, "/proc", noOwners)
		if err != nil || got != want {
			t.Errorf("ResolveNetns(%q) = %q, %v; want %q", ref, got, err, want)
		}
	}
	for _, ref := range []string{"pod/", "pod/default", "pod/default/", "pod//dns-0", "pod/a/b/c", "container/", "container/a/b"} {
		if _, err := ResolveNetns(context.Background(), ref, "/proc", noOwners); !errors.Is(err, ErrBadReference) {
			t.Errorf("ResolveNetns(%q): %v, want ErrBadReference", ref, err)
		}
	}
}

// A pod or container no namespace belongs to is not found, like a name that does not exist.
func TestResolveNetnsNotFound(t *testing.T) {
	for _, ref := range []string{"pod/default/nettune-nosuch-0", "container/0123456789abcdef0123"} {
		_, err := ResolveNetns(context.Background(), ref, "/proc", noOwners)
		if !errors.Is(err, netns.ErrNotFound) {
			t.Errorf("ResolveNetns(%q): %v, want netns.ErrNotFound", ref, err)
		}
	}
}

// noOwners asks no runtime and reads no log directory: the host's own sockets and
// directories are not the test's.
var noOwners = owner.Options{CRISockets: []string{}, PodLogDir: "/nonexistent", ContainerLogDir: "/nonexistent"}

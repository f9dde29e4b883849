package policy

import "testing"

func TestScopeOf(t *testing.T) {
	for ns, want := range map[string]string{
		"web":                         "web",
		"/run/netns/web":              "web",
		"/var/run/netns/cni-2eb00fc0": "cni-2eb00fc0",
		"/proc/4242/ns/net":           "pid-4242",
		"/host/proc/4242/ns/net":      "pid-4242",
		"/proc/self/ns/net":           "net",
		"/tmp/ns/net":                 "net",
		"/run/netns/":                 "netns",
		"/":                           "_",
	} {
		if got := scopeOf(ns); got != want {
			t.Errorf("scopeOf(%q) = %q, want %q", ns, got, want)
		}
	}
}

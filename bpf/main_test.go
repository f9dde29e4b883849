package bpf

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// childEnv makes the test binary a probe-holding child: "netns,link,tcmode". The crash
// tests start it, signal it, and look for what it left attached.
const childEnv = "NETTUNE_BPF_TEST_CHILD"

func TestMain(m *testing.M) {
	if spec := os.Getenv(childEnv); spec != "" {
		os.Exit(runChild(spec))
	}
	os.Exit(m.Run())
}

func runChild(spec string) int {
	f := strings.Split(spec, ",")
	if len(f) != 3 {
		fmt.Fprintf(os.Stderr, "bad %s=%q\n", childEnv, spec)
		return 2
	}
	p, err := Attach(Options{Targets: []Target{{Netns: f[0], Links: []string{f[1]}}}, TCMode: f[2], XDPMode: XDPGeneric, InPath: true, Drops: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	closed, _ := p.CloseOnSignal()
	fmt.Println("ready")
	<-closed
	return 0
}

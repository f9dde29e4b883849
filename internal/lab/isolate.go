package lab

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// isolatedEnv marks the copy of a test binary that Isolated started.
const isolatedEnv = "LABTEST_ISOLATED" // not NETTUNE_*: nettune reads those as config keys

// Isolated runs the test binary again, with args (e.g. -test.run ^TestX$), in a network,
// PID and mount namespace of its own whose mount table has no nsfs mount left: a discovery
// of every namespace there finds only the copy's own and those the test makes, so a whole-
// node run never attaches probes to the machine's links or reads other tests' namespaces.
// It returns true in that copy, which then does the work; the original gets false once the
// copy ended, with the copy's output logged and its failure failing tb.
func Isolated(tb testing.TB, args ...string) bool {
	tb.Helper()
	if os.Getenv(isolatedEnv) == "1" {
		return true
	}
	RequireRoot(tb)
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		tb.Skipf("no unshare binary (util-linux): %v", err)
	}
	self, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	// The copy's PID 1 is the shell: it makes the mount table private, drops every
	// namespace's bind mount from it and becomes the test binary.
	script := `mount --make-rprivate / && for m in $(awk '$0 ~ / - nsfs / {print $5}' /proc/self/mountinfo | sort -r); do umount -l "$m" 2>/dev/null; done; exec "$@"`
	cmd := exec.Command(unshare, append([]string{"--net", "--pid", "--mount", "--fork", "--mount-proc", "sh", "-c", script, "sh", self}, args...)...)
	cmd.Env = append(os.Environ(), isolatedEnv+"=1")
	out, err := cmd.CombinedOutput()
	tb.Logf("in namespaces of its own:\n%s", out)
	if err != nil {
		tb.Fatalf("isolated copy: %v", err)
	}
	if strings.Contains(string(out), "no tests to run") {
		tb.Fatalf("isolated copy ran nothing: %q match no test", args)
	}
	return false
}

package vm

import (
	"os/exec"
	"strings"
	"testing"
)

func TestInitScript(t *testing.T) {
	s := InitScript(GuestConfig{
		Packages: []GuestPackage{
			{ImportPath: "example.com/m/a", Binary: "/tests/a.test", Dir: "/src/a"},
			{ImportPath: "example.com/m/b", Binary: "/tests/b.test", Dir: "/src/it's"},
		},
		TestArgs:    []string{"-test.v=test2json", "-test.run=Test(A|B)$"},
		Path:        []string{"/usr/sbin"},
		LibraryPath: []string{"/lib/x86_64-linux-gnu", "/usr/local/lib"},
	})
	out, err := exec.Command("sh", "-n", "-c", s).CombinedOutput()
	if err != nil {
		t.Fatalf("script does not parse: %v: %s\n%s", err, out, s)
	}
	for _, want := range []string{
		"export PATH='/usr/sbin:/bin' HOME=/root",
		"export LD_LIBRARY_PATH='/lib/x86_64-linux-gnu:/usr/local/lib'\n",
		"mount -t bpf bpffs /sys/fs/bpf",
		"insmod /modules/$m.ko",
		"'/tests/a.test' '-test.v=test2json' '-test.run=Test(A|B)$' >&3 2>&3",
		`cd '/src/it'\''s'`,
		"@@kernelmatrix begin example.com/m/b",
		"dd of=/dev/port bs=1 seek=244",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("script lacks %q:\n%s", want, s)
		}
	}
	if strings.Index(s, "example.com/m/a") > strings.Index(s, "example.com/m/b") {
		t.Error("packages must run in the given order")
	}
	if s := InitScript(GuestConfig{}); !strings.Contains(s, "export PATH='/bin' HOME") || strings.Contains(s, "LD_LIBRARY_PATH") {
		t.Errorf("without host programs the guest has busybox alone:\n%s", s)
	}
}

func TestParseGuestLog(t *testing.T) {
	log := "@@kernelmatrix release 5.10.0-46-amd64\r\n" +
		"@@kernelmatrix note insmod sch_cake: No such file\r\n" +
		"@@kernelmatrix begin example.com/m/a 1.50\r\n" +
		"\x16=== RUN   TestA\r\n" +
		"\x16--- PASS: TestA (0.00s)\r\n" +
		"PASS\r\n" +
		"@@kernelmatrix end example.com/m/a 0 4.25\r\n" +
		"@@kernelmatrix begin example.com/m/b 4.30\r\n" +
		"\x16=== RUN   TestB\r\n" +
		"partial line without newline"
	g, err := ParseGuestLog(strings.NewReader(log))
	if err != nil {
		t.Fatal(err)
	}
	if g.Release != "5.10.0-46-amd64" || len(g.Notes) != 1 || g.Done {
		t.Fatalf("release %q notes %q done %v", g.Release, g.Notes, g.Done)
	}
	if len(g.Packages) != 2 {
		t.Fatalf("packages %+v", g.Packages)
	}
	a, b := g.Packages[0], g.Packages[1]
	if !a.Finished || a.Exit != 0 || a.Seconds != 2.75 || a.ImportPath != "example.com/m/a" {
		t.Errorf("a = %+v", a)
	}
	if string(a.Output) != "\x16=== RUN   TestA\n\x16--- PASS: TestA (0.00s)\nPASS\n" {
		t.Errorf("a output %q", a.Output)
	}
	if b.Finished || !strings.HasSuffix(string(b.Output), "partial line without newline") {
		t.Errorf("b = %+v", b)
	}
	g, _ = ParseGuestLog(strings.NewReader("@@kernelmatrix begin p 1\n@@kernelmatrix end p 3 2\n@@kernelmatrix done\n"))
	if !g.Done || g.Packages[0].Exit != 3 {
		t.Errorf("done %v, exit %d", g.Done, g.Packages[0].Exit)
	}
}

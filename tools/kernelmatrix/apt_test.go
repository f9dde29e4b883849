package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// searchOutput is trimmed `apt-cache search --names-only '^linux-image-6\.1'` output from
// bookworm + bookworm-security: sorted by name, so 6.1.0-9 comes after 6.1.0-56.
const searchOutput = `linux-image-6.1.0-56-amd64 - Linux 6.1 for 64-bit PCs (signed)
linux-image-6.1.0-56-cloud-amd64 - Linux 6.1 for x86-64 cloud (signed)
linux-image-6.1.0-56-rt-amd64 - Linux 6.1 for 64-bit PCs, PREEMPT_RT (signed)
linux-image-6.1.0-9-amd64 - Linux 6.1 for 64-bit PCs (signed)
linux-image-6.1.0-9-amd64-dbg - Linux 6.1 for 64-bit PCs (debug symbols)
linux-image-6.12.117+deb12-amd64 - Linux 6.12 for 64-bit PCs (signed)
linux-image-6.12.99+deb12-amd64 - Linux 6.12 for 64-bit PCs (signed)
linux-image-6.12.117+deb12-cloud-amd64 - Linux 6.12 for x86-64 cloud (signed)
linux-image-7.3.4+deb13-amd64 - Linux 7.3.4 for 64-bit PCs
linux-image-7.2.12+deb13-amd64 - Linux 7.2.12 for 64-bit PCs
linux-image-7.3.4+deb13-amd64-dbg - Linux 7.3.4 for 64-bit PCs (debug symbols)
linux-image-amd64 - Linux for 64-bit PCs (meta-package)
`

func TestNewestImage(t *testing.T) {
	for series, want := range map[string]string{
		"6.1":  "linux-image-6.1.0-56-amd64",
		"6.12": "linux-image-6.12.117+deb12-amd64",
		"7":    "linux-image-7.3.4+deb13-amd64",
		"5.10": "",
	} {
		got, abi := newestImage([]byte(searchOutput), series)
		if got != want {
			t.Errorf("series %s: %q, want %q", series, got, want)
		}
		if got != "" && "linux-image-"+abi+"-amd64" != got {
			t.Errorf("series %s: abi %q does not name %q", series, abi, got)
		}
	}
}

func TestVersionLess(t *testing.T) {
	for _, c := range []struct {
		a, b string
		less bool
	}{
		{"6.1.0-9", "6.1.0-56", true},
		{"6.12.99+deb12", "6.12.117+deb12", true},
		{"7.3.4+deb13", "7.2.12+deb13", false},
		{"5.10.0-46", "5.10.0-46", false},
	} {
		if got := versionLess(c.a, c.b); got != c.less {
			t.Errorf("versionLess(%s, %s) = %v", c.a, c.b, got)
		}
	}
}

func TestParseControl(t *testing.T) {
	// apt-cache show linux-image-7.3.4+deb13-amd64, trixie-backports (split packaging).
	show := `Package: linux-image-7.3.4+deb13-amd64
Source: linux-signed-amd64 (7.3.4+1~bpo13+1)
Version: 7.3.4-1~bpo13+1
Depends: dracut | initramfs-tools (>= 0.120+deb8u2) | linux-initramfs-tool, linux-base-7.3.4+deb13-amd64 (= 7.3.4-1~bpo13+1), linux-binary-7.3.4+deb13-amd64 (= 7.3.4-1~bpo13+1), linux-modules-7.3.4+deb13-amd64 (= 7.3.4-1~bpo13+1)
Filename: pool/main/l/linux-signed-amd64/linux-image-7.3.4+deb13-amd64_7.3.4-1~bpo13+1_amd64.deb
`
	c := parseControl(strings.NewReader(show))
	if c.Version != "7.3.4-1~bpo13+1" || !strings.HasSuffix(c.Filename, "_7.3.4-1~bpo13+1_amd64.deb") {
		t.Errorf("control %+v", c)
	}
	want := []string{"dracut", "initramfs-tools", "linux-initramfs-tool", "linux-base-7.3.4+deb13-amd64",
		"linux-binary-7.3.4+deb13-amd64", "linux-modules-7.3.4+deb13-amd64"}
	if !slices.Equal(c.Depends, want) {
		t.Errorf("depends %v, want %v", c.Depends, want)
	}
}

func TestHostMirrors(t *testing.T) {
	etc := t.TempDir()
	d := filepath.Join(etc, "sources.list.d")
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	// This machine's deb822 file, with a commented snapshot URI before the real one.
	files := map[string]string{
		"debian.sources": `Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://mirror.example/debian/
Suites: bookworm bookworm-updates
Components: main

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
`,
		"other.list": "deb https://packages.example.com/apt stable main\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(d, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	m, s := hostMirrors(etc)
	if m != "http://mirror.example/debian" || s != "http://mirror.example/debian-security" {
		t.Errorf("mirrors %q %q", m, s)
	}
	m, s = hostMirrors(t.TempDir())
	if m != "http://deb.debian.org/debian" || s != "http://deb.debian.org/debian-security" {
		t.Errorf("fallback mirrors %q %q", m, s)
	}
}

func TestSourcesList(t *testing.T) {
	a := kernelApt{mirror: "http://m/debian", security: "http://m/debian-security",
		suites: []string{"bullseye", "bookworm-security"}, keyring: "/k.gpg"}
	want := "deb [arch=amd64 signed-by=/k.gpg] http://m/debian bullseye main\n" +
		"deb [arch=amd64 signed-by=/k.gpg] http://m/debian-security bookworm-security main\n"
	if got := a.sourcesList(); got != want {
		t.Errorf("sources:\n%s\nwant:\n%s", got, want)
	}
}

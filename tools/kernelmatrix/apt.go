package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// kernelApt is a private apt configuration (sources, lists, cache) under the kernel cache:
// the kernel suites never enter the host's own sources, so nothing on the host can be
// installed or upgraded from them, and the host's apt-get update does not pay for them.
type kernelApt struct {
	dir      string
	mirror   string // e.g. http://deb.debian.org/debian
	security string // e.g. http://deb.debian.org/debian-security
	suites   []string
	keyring  string
}

func newKernelApt(cacheDir string, suites []string) kernelApt {
	mirror, security := hostMirrors("/etc/apt")
	keyring := "/usr/share/keyrings/debian-archive-keyring.gpg"
	if _, err := os.Stat(keyring); err != nil {
		keyring = ""
	}
	return kernelApt{dir: filepath.Join(cacheDir, "apt"), mirror: mirror, security: security,
		suites: suites, keyring: keyring}
}

// sourcesList returns the one-line-style sources for the kernel suites.
func (a kernelApt) sourcesList() string {
	opts := "arch=amd64"
	if a.keyring != "" {
		opts += " signed-by=" + a.keyring
	}
	var b strings.Builder
	for _, s := range a.suites {
		uri := a.mirror
		if strings.HasSuffix(s, "-security") {
			uri = a.security
		}
		fmt.Fprintf(&b, "deb [%s] %s %s main\n", opts, uri, s)
	}
	return b.String()
}

func (a kernelApt) options() []string {
	kv := []string{
		"Dir::Etc::SourceList=" + filepath.Join(a.dir, "sources.list"),
		"Dir::Etc::SourceParts=" + filepath.Join(a.dir, "empty"),
		"Dir::Etc::Preferences=" + filepath.Join(a.dir, "preferences"),
		"Dir::Etc::PreferencesParts=" + filepath.Join(a.dir, "empty"),
		"Dir::State::Lists=" + filepath.Join(a.dir, "lists"),
		"Dir::Cache=" + filepath.Join(a.dir, "cache"),
		// Debian's container images switch apt's binary caches off; without them every
		// apt-cache call re-parses all lists (seconds each).
		"Dir::Cache::pkgcache=pkgcache.bin",
		"Dir::Cache::srcpkgcache=srcpkgcache.bin",
		"Acquire::Languages=none",
		"Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false",
		"Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled=false",
		// Downloads land in root-owned cache directories the _apt user cannot write.
		"APT::Sandbox::User=root",
	}
	var out []string
	for _, o := range kv {
		out = append(out, "-o", o)
	}
	return out
}

func (a kernelApt) run(tool string, args ...string) ([]byte, error) {
	var out, errb bytes.Buffer
	cmd := exec.Command(tool, append(a.options(), args...)...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s %s: %w: %s", tool, strings.Join(args, " "), err, lastLines(errb.String(), 5))
	}
	return out.Bytes(), nil
}

// update refreshes the private package lists when the sources changed or the lists are
// older than maxAge.
func (a kernelApt) update(maxAge time.Duration) (bool, error) {
	for _, d := range []string{"empty", "lists/partial", "cache/archives/partial"} {
		if err := os.MkdirAll(filepath.Join(a.dir, d), 0o755); err != nil {
			return false, err
		}
	}
	src := a.sourcesList()
	srcPath := filepath.Join(a.dir, "sources.list")
	stamp := filepath.Join(a.dir, "updated")
	old, _ := os.ReadFile(srcPath)
	if st, err := os.Stat(stamp); err == nil && string(old) == src && time.Since(st.ModTime()) < maxAge {
		return false, nil
	}
	if err := os.WriteFile(srcPath, []byte(src), 0o644); err != nil {
		return false, err
	}
	if _, err := a.run("apt-get", "update"); err != nil {
		return false, err
	}
	return true, os.WriteFile(stamp, nil, 0o644)
}

// kernelPkg is one kernel chosen from the package lists.
type kernelPkg struct {
	Series   string   // as asked: "5.10", "6.12", "7"
	ABI      string   // e.g. 6.1.0-56, 6.12.117+deb12
	Version  string   // Debian version of the image package
	Packages []string // packages whose files make up the kernel (image, split binary/modules/base)
}

// imageName matches a generic amd64 kernel image package and captures its ABI; cloud, rt,
// dbg and unsigned flavours do not match.
var imageName = regexp.MustCompile(`^linux-image-(\d+\.\d+(?:\.\d+)?(?:-\d+|\+deb\d+))-amd64$`)

// newestImage picks, from `apt-cache search --names-only` output, the newest image package
// of a series ("6.1" matches 6.1.0-56 but not 6.12.x).
func newestImage(search []byte, series string) (name, abi string) {
	s := bufio.NewScanner(bytes.NewReader(search))
	for s.Scan() {
		pkg, _, _ := strings.Cut(s.Text(), " ")
		m := imageName.FindStringSubmatch(pkg)
		if m == nil || !strings.HasPrefix(m[1], series+".") {
			continue
		}
		if abi == "" || versionLess(abi, m[1]) {
			name, abi = pkg, m[1]
		}
	}
	return name, abi
}

var digits = regexp.MustCompile(`\d+`)

// versionLess compares the numeric fields of two kernel ABIs (6.1.0-9 < 6.1.0-56).
func versionLess(a, b string) bool {
	x, y := digits.FindAllString(a, -1), digits.FindAllString(b, -1)
	for i := 0; i < len(x) && i < len(y); i++ {
		p, _ := strconv.Atoi(x[i])
		q, _ := strconv.Atoi(y[i])
		if p != q {
			return p < q
		}
	}
	return len(x) < len(y)
}

// control holds the fields of one `apt-cache show` stanza that matter here.
type control struct {
	Version  string
	Depends  []string // package names only
	Filename string
}

func parseControl(r io.Reader) control {
	var c control
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 64<<10), 1<<20)
	for s.Scan() {
		key, val, ok := strings.Cut(s.Text(), ": ")
		if !ok {
			continue
		}
		switch key {
		case "Version":
			c.Version = val
		case "Filename":
			c.Filename = val
		case "Depends":
			for _, alt := range strings.Split(val, ",") {
				for _, d := range strings.Split(alt, "|") {
					name, _, _ := strings.Cut(strings.TrimSpace(d), " ")
					c.Depends = append(c.Depends, name)
				}
			}
		}
	}
	return c
}

// resolve finds the newest kernel of a series and the packages that carry its files: the
// image package and, with the split packaging of 6.13+, its linux-{binary,modules,base}-ABI.
func (a kernelApt) resolve(series string) (kernelPkg, error) {
	out, err := a.run("apt-cache", "search", "--names-only", "^linux-image-"+regexp.QuoteMeta(series)+`\.`)
	if err != nil {
		return kernelPkg{}, err
	}
	image, abi := newestImage(out, series)
	if image == "" {
		return kernelPkg{}, fmt.Errorf("kernel %s: no linux-image package in suites %s", series, strings.Join(a.suites, " "))
	}
	show, err := a.run("apt-cache", "show", "--no-all-versions", image)
	if err != nil {
		return kernelPkg{}, err
	}
	c := parseControl(bytes.NewReader(show))
	k := kernelPkg{Series: series, ABI: abi, Version: c.Version, Packages: []string{image}}
	for _, d := range c.Depends {
		if strings.Contains(d, abi) && !strings.HasPrefix(d, "linux-headers") {
			k.Packages = append(k.Packages, d)
		}
	}
	sort.Strings(k.Packages[1:])
	return k, nil
}

// download fetches the kernel's packages into dir unless they are there already, and removes
// other .deb files from dir (older builds of the same series). It returns the file paths.
func (a kernelApt) download(k kernelPkg, dir string) ([]string, bool, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, false, err
	}
	var files []string
	var missing []string
	for _, p := range k.Packages {
		show, err := a.run("apt-cache", "show", "--no-all-versions", p)
		if err != nil {
			return nil, false, err
		}
		c := parseControl(bytes.NewReader(show))
		f := filepath.Join(dir, filepath.Base(c.Filename))
		files = append(files, f)
		if _, err := os.Stat(f); err != nil {
			missing = append(missing, p+"="+c.Version)
		}
	}
	if len(missing) > 0 {
		cmd := exec.Command("apt-get", append(a.options(), append([]string{"download"}, missing...)...)...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, false, fmt.Errorf("apt-get download %s: %w: %s", strings.Join(missing, " "), err, lastLines(string(out), 5))
		}
	}
	keep := map[string]bool{}
	for _, f := range files {
		if _, err := os.Stat(f); err != nil {
			return nil, false, fmt.Errorf("downloaded package: %w", err)
		}
		keep[f] = true
	}
	old, _ := filepath.Glob(filepath.Join(dir, "*.deb"))
	for _, f := range old {
		if !keep[f] {
			os.Remove(f)
		}
	}
	return files, len(missing) > 0, nil
}

var uriField = regexp.MustCompile(`https?://[^\s\]]+`)

// hostMirrors returns the Debian and Debian security archive URIs the host's apt sources
// already use (the project may only reach the archive through them), falling back to
// deb.debian.org.
func hostMirrors(etcApt string) (mirror, security string) {
	mirror, security = "http://deb.debian.org/debian", "http://deb.debian.org/debian-security"
	files := []string{filepath.Join(etcApt, "sources.list")}
	for _, pat := range []string{"*.list", "*.sources"} {
		m, _ := filepath.Glob(filepath.Join(etcApt, "sources.list.d", pat))
		files = append(files, m...)
	}
	var foundMain, foundSec bool
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "#") {
				continue
			}
			for _, uri := range uriField.FindAllString(line, -1) {
				uri = strings.TrimSuffix(uri, "/")
				switch {
				case strings.HasSuffix(uri, "/debian-security") && !foundSec:
					security, foundSec = uri, true
				case strings.HasSuffix(uri, "/debian") && !foundMain:
					mirror, foundMain = uri, true
				}
			}
		}
	}
	return mirror, security
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

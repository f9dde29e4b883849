package docref

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestCites(t *testing.T) {
	tests := []struct {
		text string
		want []Cite
	}{
		{"act on loss seen in 3 runs in a row (docs/rules.md §3), at most one change",
			[]Cite{{Doc: "docs/rules.md", Sections: []string{"3"}}}},
		{"// grade applies the thresholds (docs/rules.md §3.3): below MinRate",
			[]Cite{{Doc: "docs/rules.md", Sections: []string{"3.3"}}}},
		{"benignRules: drops that no buffer fixes (docs/rules.md §4 step 0 and row 10). They are reported\nwith class benign (§9).",
			[]Cite{{Doc: "docs/rules.md", Sections: []string{"4"}, Rows: []int{10}}}},
		{"tcpRules: docs/rules.md rows 12 (receive buffer, socket backlog, TCP memory) and 13 (accept and\nSYN queues). TCP drops cause retransmits, row 99.",
			[]Cite{{Doc: "docs/rules.md", Rows: []int{12, 13}}}},
		{"udpRules: docs/rules.md row 11 (UDP receive buffer and UDP memory) and the UDP half of row 14\n(send errors). IPv4 and IPv6",
			[]Cite{{Doc: "docs/rules.md", Rows: []int{11, 14}}}},
		{"ringRules: docs/rules.md row 2 (RX ring / DMA buffers) and row 14's TX ring. Allocation failures\nare pressure (docs/rules.md §3.4).",
			[]Cite{{Doc: "docs/rules.md", Rows: []int{2, 14}}, {Doc: "docs/rules.md", Sections: []string{"3.4"}}}},
		{"(docs/rules.md row 9: \"Fails ≫ Timeout\"). A refusal counts per fragment",
			[]Cite{{Doc: "docs/rules.md", Rows: []int{9}}}},
		{"bnxt_en (bnxt_ethtool.c, docs/drivers.md §11). Per-ring names",
			[]Cite{{Doc: "docs/drivers.md", Sections: []string{"11"}}}},
		{"3. **RX ring** (rows 1–2): see docs/rules.md rows 5–7, and rows 11, 12 or 14 too.",
			[]Cite{{Doc: "docs/rules.md", Rows: []int{5, 6, 7, 11, 12, 14}}}},
		{"| `sysctl:<k>` | go-sysctl | global or netns (docs/rules.md §5) | yes, (row 3) |",
			[]Cite{{Doc: "docs/rules.md", Sections: []string{"5"}}}},
		{"the list is in docs/rules.md; docs/kernels.md §5 and §6 say more. Then §7.",
			[]Cite{{Doc: "docs/rules.md"}, {Doc: "docs/kernels.md", Sections: []string{"5", "6"}}}},
		{"mydocs/rules.md §3 is not ours; nor is docs/x.md.bak", []Cite{{Doc: "docs/x.md"}}},
		{"no references here, only §3 and row 4", nil},
	}
	for _, tt := range tests {
		got := Cites(tt.text)
		for i := range got {
			got[i].Offset = 0
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Cites(%q)\n got %+v\nwant %+v", tt.text, got, tt.want)
		}
	}
}

func TestMDPaths(t *testing.T) {
	ps := MDPaths("see README.md, docs/rules.md and [apply.md](apply.md#auto), /etc/x/NOTES.md, " +
		"https://github.com/o/r/blob/main/docs/y.md and rules.mdx")
	var got []string
	for _, p := range ps {
		got = append(got, p.Path)
	}
	want := []string{"README.md", "docs/rules.md", "apply.md", "apply.md", "/etc/x/NOTES.md"}
	if !slices.Equal(got, want) || ps[1].Offset != 15 {
		t.Errorf("MDPaths = %+v, want %q", ps, want)
	}
}

func TestParseAnchors(t *testing.T) {
	a := ParseAnchors("# Title\n## 1. Sources\n### 3.3 Thresholds\n## 4 Order\n### Row 12: TCP\n" +
		"```\n## 9. not a heading\n```\nRow 13 in prose\n#### 10.2. deep\n")
	wantS := map[string]bool{"1": true, "3.3": true, "4": true, "10.2": true}
	wantR := map[int]bool{12: true}
	if !reflect.DeepEqual(a.Sections, wantS) || !reflect.DeepEqual(a.Rows, wantR) {
		t.Errorf("ParseAnchors = %v %v, want %v %v", a.Sections, a.Rows, wantS, wantR)
	}
}

func TestMarkdownBlocks(t *testing.T) {
	md := "# T\n\npara one\ncontinues (docs/a.md\n§1).\n\n- item one\n  more\n- item two\n| a | b |\n|---|---|\n\n```\ncode\n```\n"
	var got []string
	var lines []int
	for _, b := range MarkdownBlocks(md) {
		got = append(got, b.Text)
		lines = append(lines, b.Line)
	}
	want := []string{"# T", "para one\ncontinues (docs/a.md\n§1).", "- item one\n  more", "- item two",
		"| a | b |", "|---|---|", "```\ncode\n```"}
	if !slices.Equal(got, want) || !slices.Equal(lines, []int{1, 3, 7, 9, 10, 11, 13}) {
		t.Errorf("MarkdownBlocks = %q at %v", got, lines)
	}
}

func TestGoComments(t *testing.T) {
	src := "// Package p is here.\npackage p\n\n// F cites docs/rules.md\n// §4.\nfunc F() {}\n"
	bs, err := GoComments("p.go", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if len(bs) != 2 || bs[1].Line != 4 || bs[1].LineOf(strings.Index(bs[1].Text, "§")) != 5 {
		t.Fatalf("GoComments = %+v", bs)
	}
	if c := Cites(bs[1].Text); len(c) != 1 || !slices.Equal(c[0].Sections, []string{"4"}) {
		t.Errorf("Cites = %+v", c)
	}
}

// TestRepositoryReferences: every docs/<name>.md cited in a Go comment or a Markdown file
// exists and has the sections and rows cited with it, and every other .md path or name in
// them names a file in the repository (relative to the root or to the citing file).
func TestRepositoryReferences(t *testing.T) {
	root := moduleRoot(t)
	anchors := map[string]*Anchors{}
	anchorsOf := func(doc string) (*Anchors, error) {
		if a, ok := anchors[doc]; ok {
			return a, nil
		}
		b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(doc)))
		if err != nil {
			return nil, err
		}
		a := ParseAnchors(string(b))
		anchors[doc] = &a
		return &a, nil
	}
	var problems []string
	check := func(rel string, blocks []Block) {
		for _, b := range blocks {
			cited := map[int]bool{}
			for _, c := range Cites(b.Text) {
				cited[c.Offset] = true
				at := rel + ":" + strconv.Itoa(b.LineOf(c.Offset))
				a, err := anchorsOf(c.Doc)
				if err != nil {
					problems = append(problems, at+": "+c.Doc+" does not exist")
					continue
				}
				for _, s := range c.Sections {
					if !a.Sections[s] {
						problems = append(problems, at+": "+c.Doc+" has no §"+s)
					}
				}
				for _, r := range c.Rows {
					if !a.Rows[r] {
						problems = append(problems, at+": "+c.Doc+" has no row "+strconv.Itoa(r))
					}
				}
			}
			for _, p := range MDPaths(b.Text) {
				if !cited[p.Offset] && !resolves(root, rel, p.Path) {
					problems = append(problems, rel+":"+strconv.Itoa(b.LineOf(p.Offset))+": "+p.Path+" is not a file in the repository")
				}
			}
		}
	}
	files := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != root && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		switch filepath.Ext(path) {
		case ".go":
			src, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			blocks, err := GoComments(path, src)
			if err != nil {
				return err
			}
			check(rel, blocks)
		case ".md":
			src, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			check(rel, MarkdownBlocks(string(src)))
		default:
			return nil
		}
		files++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 10 || len(anchors) == 0 {
		t.Fatalf("walked %d files and found %d cited documents under %s: not the repository?", files, len(anchors), root)
	}
	for _, p := range problems {
		t.Error(p)
	}
}

// resolves reports whether an .md path names a file of the repository, relative to the root or
// to the directory of the file that mentions it. Absolute paths point outside.
func resolves(root, from, p string) bool {
	if strings.HasPrefix(p, "/") {
		return false
	}
	for _, base := range []string{root, filepath.Join(root, filepath.Dir(filepath.FromSlash(from)))} {
		full := filepath.Join(base, filepath.FromSlash(p))
		if rel, err := filepath.Rel(root, full); err != nil || strings.HasPrefix(rel, "..") {
			continue
		}
		if st, err := os.Stat(full); err == nil && !st.IsDir() {
			return true
		}
	}
	return false
}

// moduleRoot is the directory of the go.mod above the test's directory.
func moduleRoot(t *testing.T) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		} else if !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test directory")
		}
		dir = parent
	}
}

func TestSlugs(t *testing.T) {
	got := Slugs("# Operating nettune: single host, fleet\n## `apply --plan`\n#### NettuneDown\n" +
		"### Persistence: `apply --persist` and `nettune restore`\n## Runbook\n## Runbook\n```\n# not\n```\n")
	want := map[string]bool{"operating-nettune-single-host-fleet": true, "apply---plan": true, "nettunedown": true,
		"persistence-apply---persist-and-nettune-restore": true, "runbook": true, "runbook-1": true}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Slugs = %v, want %v", got, want)
	}
}

// TestRepositoryLinks: every link to the published repository in the shipped configs and the
// sources (the alerts' runbook_url) names a file of the repository and, for a Markdown file, a
// heading of it.
func TestRepositoryLinks(t *testing.T) {
	root := moduleRoot(t)
	n := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != root && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		switch filepath.Ext(path) {
		case ".yaml", ".yml", ".json", ".go", ".md", ".service", ".timer":
		default:
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		for _, l := range RepoLinks(string(b)) {
			n++
			target := filepath.Join(root, filepath.FromSlash(l[0]))
			md, err := os.ReadFile(target)
			if err != nil || strings.HasPrefix(l[0], "/") || strings.Contains(l[0], "..") {
				t.Errorf("%s: %s%s is not a file of the repository", rel, RepoURL, l[0])
				continue
			}
			if l[1] != "" && (!strings.HasSuffix(l[0], ".md") || !Slugs(string(md))[l[1]]) {
				t.Errorf("%s: %s has no heading #%s", rel, l[0], l[1])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 6 {
		t.Errorf("found %d links to %s: the alert rules' runbook URLs should be among them", n, RepoURL)
	}
}

// TestMarkdownLinkAnchors: every Markdown link to a heading of a document of the repository,
// [text](docs/apply.md#anchor) or [text](#anchor), names a heading that exists.
func TestMarkdownLinkAnchors(t *testing.T) {
	root := moduleRoot(t)
	link := regexp.MustCompile(`\]\(([^()\s#]*)#([^()\s]+)\)`)
	links := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			if err == nil && path != root && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return err
		}
		if filepath.Ext(path) != ".md" {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range link.FindAllStringSubmatch(string(src), -1) {
			target := path
			if m[1] != "" {
				if strings.Contains(m[1], "://") || !strings.HasSuffix(m[1], ".md") {
					continue
				}
				target = filepath.Join(filepath.Dir(path), filepath.FromSlash(m[1]))
			}
			links++
			doc, err := os.ReadFile(target)
			rel, _ := filepath.Rel(root, path)
			if err != nil {
				t.Errorf("%s: link to %s: %v", rel, m[1], err)
				continue
			}
			if !Slugs(string(doc))[m[2]] {
				t.Errorf("%s: link %s#%s: no such heading", rel, m[1], m[2])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if links < 5 {
		t.Errorf("found only %d links to headings", links)
	}
}

// Package docref finds the references to the repository's documents in Go comments and
// Markdown — docs/<name>.md with the sections (§3, §3.3) and rule rows (row 12) cited with it —
// and the sections and rows a document defines, so a test can check that every reference
// resolves.
package docref

import (
	"go/parser"
	"go/token"
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

// Cite is one reference to a document under docs/ and what it cites there.
type Cite struct {
	Doc      string   // "docs/rules.md"
	Sections []string // "3", "3.3"
	Rows     []int
	Offset   int // byte offset of Doc in the text it was found in
}

var (
	docRE     = regexp.MustCompile(`docs/[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\.md\b`)
	sectionRE = regexp.MustCompile(`§\s*(\d+(?:\.\d+)*)`)
	rowRE     = regexp.MustCompile(`\b[Rr]ows?\s+(\d+)`)
	rowMoreRE = regexp.MustCompile(`^\s*(,|and|or|&|–|-|to)\s*(\d+)\b`)
	// mdPathRE is any path or file name ending in .md; a leading slash makes it absolute.
	mdPathRE = regexp.MustCompile(`/?(?:[A-Za-z0-9_.-]+/)*[A-Za-z0-9_-][A-Za-z0-9_.-]*\.md\b`)
	urlRE    = regexp.MustCompile(`[a-z]+://\S+`)
)

// Cites returns the docs/<name>.md references in text. The sections and rows cited with a
// reference are those that follow it in the same sentence, or, when the reference stands
// inside parentheses, before they close; parenthesized asides within that span are skipped
// ("rows 12 (receive buffer) and 13"). A sentence ends at a period followed by white space,
// at a table cell boundary, or at the next reference.
func Cites(text string) []Cite {
	locs := docRE.FindAllStringIndex(text, -1)
	var out []Cite
	for i, loc := range locs {
		if loc[0] > 0 && isWordByte(text[loc[0]-1]) {
			continue // part of another name ("mydocs/…")
		}
		limit := len(text)
		if i+1 < len(locs) {
			limit = locs[i+1][0]
		}
		scope := stripParens(text[loc[1]:scopeEnd(text, loc[0], loc[1], limit)])
		c := Cite{Doc: text[loc[0]:loc[1]], Offset: loc[0]}
		for _, m := range sectionRE.FindAllStringSubmatch(scope, -1) {
			c.Sections = append(c.Sections, m[1])
		}
		c.Rows = rows(scope)
		out = append(out, c)
	}
	return out
}

func isWordByte(b byte) bool {
	return b == '_' || b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z'
}

// scopeEnd is where the citation of the reference at text[start:end] ends (at most limit).
func scopeEnd(text string, start, end, limit int) int {
	// Is the reference inside parentheses opened in its own sentence?
	inside, closes := false, 0
	for i := start - 1; i >= 0 && !sentenceEndAt(text, i) && text[i] != '|'; i-- {
		switch text[i] {
		case ')':
			closes++
		case '(':
			if closes == 0 {
				inside = true
			} else {
				closes--
			}
		}
		if inside {
			break
		}
	}
	depth := 0
	for i := end; i < limit; i++ {
		switch c := text[i]; {
		case c == '(':
			depth++
		case c == ')':
			if depth == 0 {
				return i // closes the parentheses around the reference, or an outer aside
			}
			depth--
		case c == '|' && !inside:
			return i
		case depth == 0 && !inside && sentenceEndAt(text, i):
			return i
		}
	}
	return limit
}

// sentenceEndAt reports whether text[i] is a period that ends a sentence.
func sentenceEndAt(text string, i int) bool {
	if text[i] != '.' {
		return false
	}
	return i+1 == len(text) || text[i+1] == ' ' || text[i+1] == '\n' || text[i+1] == '\t'
}

// stripParens removes parenthesized asides, nested ones included.
func stripParens(s string) string {
	var b strings.Builder
	depth := 0
	for _, r := range s {
		switch {
		case r == '(':
			depth++
		case r == ')' && depth > 0:
			depth--
		case depth == 0:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// rows reads "row N", "rows N and M", "rows N–M" (a range) and lists of those.
func rows(s string) []int {
	var out []int
	for _, m := range rowRE.FindAllStringSubmatchIndex(s, -1) {
		prev, _ := strconv.Atoi(s[m[2]:m[3]])
		out = append(out, prev)
		rest := s[m[1]:]
		for {
			n := rowMoreRE.FindStringSubmatchIndex(rest)
			if n == nil {
				break
			}
			v, _ := strconv.Atoi(rest[n[4]:n[5]])
			if sep := rest[n[2]:n[3]]; (sep == "–" || sep == "-" || sep == "to") && v > prev && v-prev < 100 {
				for x := prev + 1; x <= v; x++ {
					out = append(out, x)
				}
			} else {
				out = append(out, v)
			}
			prev, rest = v, rest[n[1]:]
		}
	}
	return out
}

// Path is a path or file name ending in .md and its byte offset in the text.
type Path struct {
	Path   string
	Offset int
}

// MDPaths returns every path or file name ending in .md in text, outside URLs.
func MDPaths(text string) []Path {
	urls := urlRE.FindAllStringIndex(text, -1)
	var out []Path
	for _, loc := range mdPathRE.FindAllStringIndex(text, -1) {
		inURL := false
		for _, u := range urls {
			if loc[0] >= u[0] && loc[0] < u[1] {
				inURL = true
			}
		}
		if !inURL {
			out = append(out, Path{text[loc[0]:loc[1]], loc[0]})
		}
	}
	return out
}

// Anchors are the sections and rows a Markdown document defines: headings that begin with a
// number ("## 3. Title", "### 3.3 Title") and headings "Row N" ("### Row 12: Title").
type Anchors struct {
	Sections map[string]bool
	Rows     map[int]bool
}

var (
	sectionHeadingRE = regexp.MustCompile(`^#{1,6}\s+(\d+(?:\.\d+)*)\.?\s`)
	rowHeadingRE     = regexp.MustCompile(`^#{1,6}\s+Row\s+(\d+)\b`)
)

// ParseAnchors reads the anchors of a Markdown document, skipping fenced code blocks.
func ParseAnchors(md string) Anchors {
	a := Anchors{Sections: map[string]bool{}, Rows: map[int]bool{}}
	fenced := false
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			continue
		}
		if fenced {
			continue
		}
		if m := sectionHeadingRE.FindStringSubmatch(line); m != nil {
			a.Sections[m[1]] = true
		}
		if m := rowHeadingRE.FindStringSubmatch(line); m != nil {
			n, _ := strconv.Atoi(m[1])
			a.Rows[n] = true
		}
	}
	return a
}

// Block is a piece of prose: a Go comment group, or a Markdown paragraph, list item or table
// row. Line is the line its text starts on.
type Block struct {
	Text string
	Line int
}

// LineOf is the line of the byte at offset in the block's text.
func (b Block) LineOf(offset int) int {
	return b.Line + strings.Count(b.Text[:offset], "\n")
}

var listItemRE = regexp.MustCompile(`^\s*(?:[-*+]|\d+\.)\s`)

// MarkdownBlocks splits a Markdown document into paragraphs, list items and table rows.
// Fenced code blocks are one block each.
func MarkdownBlocks(md string) []Block {
	var out []Block
	var cur []string
	start := 0
	flush := func() {
		if len(cur) > 0 {
			out = append(out, Block{Text: strings.Join(cur, "\n"), Line: start})
		}
		cur = nil
	}
	fenced := false
	for i, line := range strings.Split(md, "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(trimmed, "```"):
			if !fenced {
				flush()
				start = i + 1
			}
			cur = append(cur, line)
			if fenced {
				flush()
			}
			fenced = !fenced
			continue
		case fenced:
		case trimmed == "":
			flush()
			continue
		case strings.HasPrefix(trimmed, "|"), strings.HasPrefix(trimmed, "#"), listItemRE.MatchString(line):
			flush()
		}
		if len(cur) == 0 {
			start = i + 1
		}
		cur = append(cur, line)
		if strings.HasPrefix(trimmed, "|") || strings.HasPrefix(trimmed, "#") {
			flush()
		}
	}
	flush()
	return out
}

// GoComments returns the comment groups of a Go source file.
func GoComments(filename string, src []byte) ([]Block, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, filename, src, parser.ParseComments|parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	out := make([]Block, 0, len(f.Comments))
	for _, g := range f.Comments {
		out = append(out, Block{Text: g.Text(), Line: fset.Position(g.Pos()).Line})
	}
	return out, nil
}

// Slugs are the link anchors of a Markdown document's headings as GitHub makes them: the
// heading's text in lower case, without punctuation other than hyphens and underscores,
// spaces turned into hyphens, and "-1", "-2", ... appended to repeated ones. Fenced code blocks
// are skipped.
func Slugs(md string) map[string]bool {
	out := map[string]bool{}
	seen := map[string]int{}
	fenced := false
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			continue
		}
		m := headingRE.FindStringSubmatch(line)
		if fenced || m == nil {
			continue
		}
		var b strings.Builder
		for _, r := range strings.ToLower(strings.TrimSpace(m[1])) {
			switch {
			case r == ' ':
				b.WriteByte('-')
			case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
				b.WriteRune(r)
			}
		}
		slug := b.String()
		if n := seen[slug]; n > 0 {
			out[slug+"-"+strconv.Itoa(n)] = true
		} else {
			out[slug] = true
		}
		seen[slug]++
	}
	return out
}

var headingRE = regexp.MustCompile(`^#{1,6}\s+(.*?)\s*#*$`)

// RepoURL is where the repository's files are published; links to it from the shipped configs
// (alert runbook URLs) must name files and anchors that exist.
const RepoURL = "https://github.com/nettune/nettune/blob/main/"

var repoURLRE = regexp.MustCompile(regexp.QuoteMeta(RepoURL) + `[^\s"'#)]+(?:#[^\s"')]*)?`)

// RepoLinks returns the links to RepoURL in text, as repository path and anchor ("" for none).
func RepoLinks(text string) [][2]string {
	var out [][2]string
	for _, u := range repoURLRE.FindAllString(text, -1) {
		path, anchor, _ := strings.Cut(strings.TrimPrefix(u, RepoURL), "#")
		out = append(out, [2]string{path, anchor})
	}
	return out
}

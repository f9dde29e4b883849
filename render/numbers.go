package render

import (
	"strconv"
	"strings"
)

// grouped puts thousands separators into the integer part of a formatted number: 382393 →
// 382,393, 60753.5 → 60,753.5. Numbers people compare at a glance need them.
func grouped(s string) string {
	sign := ""
	if len(s) > 0 && (s[0] == '-' || s[0] == '+') {
		sign, s = s[:1], s[1:]
	}
	end := len(s)
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			end = i
			break
		}
	}
	intPart, rest := s[:end], s[end:]
	if len(intPart) <= 3 {
		return sign + s
	}
	b := make([]byte, 0, len(intPart)+len(intPart)/3)
	for i := range len(intPart) {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b = append(b, ',')
		}
		b = append(b, intPart[i])
	}
	return sign + string(b) + rest
}

// rateN is a rate as the table writes it, with thousands separators.
func rateN(v float64) string { return rate(v) }

// countN is a count with thousands separators.
func countN(n uint64) string { return grouped(strconv.FormatUint(n, 10)) }

// signedRate is rateN for a value that may be negative (a residual: more left than entered).
func signedRate(v float64) string {
	if v < 0 {
		return "-" + rateN(-v)
	}
	return rateN(v)
}

// plural is "1 drop", "2 drops", "1,232 drops": the count with its noun.
func plural(n uint64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return countN(n) + " " + many
}

// uniqueNote drops the repeats of a note joined from several sources with "; ": each fact once.
func uniqueNote(s string) string {
	var parts []string
	for _, part := range strings.Split(s, "; ") {
		if part = strings.TrimSpace(part); part != "" {
			parts = append(parts, part)
		}
	}
	return strings.Join(unique(parts), "; ")
}

// unique is list without repeats, in its order: a note said by two rules is said once.
func unique(list []string) []string {
	seen := make(map[string]bool, len(list))
	out := list[:0:0]
	for _, s := range list {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

package policy

import (
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/nettune/nettune/model"
)

// TestRulesAreIndependent: rules read the interval and nothing of each other, so the order
// they run in changes nothing in the report (issue 11: cross-rule decisions are reconcile's).
func TestRulesAreIndependent(t *testing.T) {
	deltas := map[string]*model.Delta{"quiet host": quietHost(), "everything at once": everything()}
	for _, tc := range ruleCases() {
		deltas[tc.name] = tc.delta
	}
	saved := rules
	defer func() { rules = saved }()
	rng := rand.New(rand.NewPCG(1, 2))
	for name, d := range deltas {
		rules = saved
		want := AnalyzeWith(d, Settings{}, DefaultConfig())
		for range 5 {
			rules = append([]rule(nil), saved...)
			rng.Shuffle(len(rules), func(i, j int) { rules[i], rules[j] = rules[j], rules[i] })
			if got := AnalyzeWith(d, Settings{}, DefaultConfig()); !reflect.DeepEqual(got, want) {
				t.Fatalf("%s: the report depends on the order of the rules", name)
			}
		}
	}
}

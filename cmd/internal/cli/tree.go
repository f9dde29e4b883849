package cli

import (
	"io"
	"strings"

	"github.com/spf13/cobra"
)

// Tree is nettune's command tree as the binary runs it, completion command included: the
// man pages and shell completions are generated from it.
func Tree() *cobra.Command {
	root := newRoot(Streams{In: strings.NewReader(""), Out: io.Discard, Err: io.Discard})
	root.InitDefaultCompletionCmd()
	return root
}

package model

// Scope is where a knob's change takes effect.
type Scope string

const (
	ScopeGlobal Scope = "global" // the whole host, whichever namespace writes it
	ScopeNetns  Scope = "netns"  // one network namespace
	ScopeDevice Scope = "device" // one network device (in its namespace)
)

package event

import (
	"fmt"
	"strings"
)

// pattern is a compiled event name: dot-separated segments where `*` stands
// for exactly one segment and `**` for any number of them (zero included),
// as eventemitter2 does with `{wildcard: true, delimiter: '.'}` — the emitter
// Directus uses (reference §1.3).
type pattern struct {
	raw  string
	segs []string
	// wild is true when the pattern has a `*` or `**` segment.
	wild bool
	// rank orders the wildcard listeners of one name the way eventemitter2's
	// tree walk does: at each segment a literal comes before `*`, which
	// comes before `**`.
	rank []int
}

const (
	rankLiteral = iota
	rankStar
	rankGlobstar
)

// compilePattern validates and compiles an event name or pattern.
func compilePattern(name string) (pattern, error) {
	if name == "" {
		return pattern{}, fmt.Errorf("event name is empty")
	}
	if strings.TrimSpace(name) != name || strings.ContainsAny(name, " \t\n") {
		return pattern{}, fmt.Errorf("event name %q contains whitespace", name)
	}
	p := pattern{raw: name, segs: strings.Split(name, ".")}
	p.rank = make([]int, len(p.segs))
	for i, s := range p.segs {
		switch {
		case s == "":
			return pattern{}, fmt.Errorf("event name %q has an empty segment", name)
		case s == "*":
			p.wild, p.rank[i] = true, rankStar
		case s == "**":
			p.wild, p.rank[i] = true, rankGlobstar
		case strings.Contains(s, "*"):
			return pattern{}, fmt.Errorf("event name %q: a wildcard must be a whole segment (`*` or `**`)", name)
		}
	}
	return p, nil
}

// Match reports whether the event pattern matches the concrete event name,
// with Directus's (eventemitter2's) semantics: `*` is one dot-segment, `**`
// any number, so `items.*` matches `items.create` but not
// `articles.items.create`, and a bare `*` matches no dotted name. It returns
// false for an invalid pattern.
func Match(pattern, name string) bool {
	p, err := compilePattern(pattern)
	if err != nil {
		return false
	}
	return p.match(strings.Split(name, "."))
}

func (p pattern) match(name []string) bool {
	return matchSegs(p.segs, name)
}

func matchSegs(pat, name []string) bool {
	for len(pat) > 0 {
		switch pat[0] {
		case "**":
			// Collapse consecutive globstars, then try every split.
			rest := pat[1:]
			for len(rest) > 0 && rest[0] == "**" {
				rest = rest[1:]
			}
			if len(rest) == 0 {
				return true
			}
			for i := 0; i <= len(name); i++ {
				if matchSegs(rest, name[i:]) {
					return true
				}
			}
			return false
		case "*":
			if len(name) == 0 {
				return false
			}
		default:
			if len(name) == 0 || name[0] != pat[0] {
				return false
			}
		}
		pat, name = pat[1:], name[1:]
	}
	return len(name) == 0
}

// before orders two wildcard patterns for one name: segment by segment,
// literal < `*` < `**`; a shorter rank prefix first.
func (p pattern) before(q pattern) int {
	for i := 0; i < len(p.rank) && i < len(q.rank); i++ {
		if p.rank[i] != q.rank[i] {
			return p.rank[i] - q.rank[i]
		}
	}
	return len(p.rank) - len(q.rank)
}

// live lists the event families that are not durable: they happen on one
// instance, about something that exists only there (a socket, a request,
// the process), so their actions run in-process.
var livePatterns = mustPatterns("websocket.**", "server.*", "request.**", "response", "items.read", "*.items.read",
	"extensions.**")

func mustPatterns(names ...string) []pattern {
	out := make([]pattern, len(names))
	for i, n := range names {
		p, err := compilePattern(n)
		if err != nil {
			panic(err)
		}
		out[i] = p
	}
	return out
}

// Durable reports whether actions on the concrete event name are durable
// River jobs (data events: items.create, articles.items.update,
// users.delete, auth.login, …) rather than live in-process calls
// (websocket.*, server.start|stop, request.*, response, items.read). Callers
// use it to choose between Bus.EnqueueActionsTx and Bus.Emit.
func Durable(name string) bool {
	segs := strings.Split(name, ".")
	for _, p := range livePatterns {
		if p.match(segs) {
			return false
		}
	}
	return true
}

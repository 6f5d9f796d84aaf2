// Package promexpr finds the metric selectors in PromQL expressions: each metric name with
// its label matchers as written. The Prometheus add-on's tests use it to check that every
// series a rule or a dashboard panel reads exists in a real Prometheus, and that every
// panel keeps to one release. It knows PromQL's lexical structure (strings, matchers,
// ranges, numbers, grouping clauses, function and aggregation calls), not its grammar,
// which is enough for expressions that parse.
package promexpr

import "strings"

// Selector is one metric selector: the metric's name and its matchers, braces included
// ("" when it has none).
type Selector struct{ Name, Matchers string }

// String is the selector as PromQL writes it.
func (s Selector) String() string { return s.Name + s.Matchers }

// Has reports whether the selector carries the matcher m (e.g. `namespace="$namespace"`)
// exactly as written.
func (s Selector) Has(m string) bool {
	inner := strings.TrimSuffix(strings.TrimPrefix(s.Matchers, "{"), "}")
	for _, part := range splitMatchers(inner) {
		if strings.TrimSpace(part) == m {
			return true
		}
	}
	return false
}

// words that are never metric names: operators, modifiers and aggregations (which PromQL
// allows to be followed by a grouping clause before their parenthesis).
var notMetric = map[string]bool{
	"and": true, "or": true, "unless": true, "bool": true, "offset": true, "atan2": true,
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
	"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true,
	"count": true, "count_values": true, "bottomk": true, "topk": true, "quantile": true,
	"Inf": true, "NaN": true, "inf": true, "nan": true,
}

// grouping words take a parenthesised list of label names, which are not metrics.
var grouping = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true}

// Selectors returns the metric selectors of expr in the order they appear.
func Selectors(expr string) []Selector {
	var out []Selector
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			i = skipString(expr, i)
		case c == '[':
			i = skipTo(expr, i, ']')
		case c == '{':
			i = skipTo(expr, i, '}')
		case c >= '0' && c <= '9' || c == '.':
			i = skipNumber(expr, i)
		case isIdentStart(c):
			j := i
			for j < len(expr) && isIdent(expr[j]) {
				j++
			}
			word := expr[i:j]
			k := j
			for k < len(expr) && (expr[k] == ' ' || expr[k] == '\t' || expr[k] == '\n') {
				k++
			}
			switch {
			case grouping[word] && k < len(expr) && expr[k] == '(':
				i = skipTo(expr, k, ')')
			case notMetric[word] || k < len(expr) && expr[k] == '(':
				i = j
			default:
				sel := Selector{Name: word}
				i = j
				if k < len(expr) && expr[k] == '{' {
					end := skipTo(expr, k, '}')
					sel.Matchers, i = expr[k:end], end
				}
				out = append(out, sel)
			}
		default:
			i++
		}
	}
	return out
}

func isIdentStart(c byte) bool {
	return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isIdent(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' }

// skipString returns the index after the string literal starting at i.
func skipString(s string, i int) int {
	q := s[i]
	for j := i + 1; j < len(s); j++ {
		switch {
		case s[j] == '\\' && q != '`':
			j++
		case s[j] == q:
			return j + 1
		}
	}
	return len(s)
}

// skipTo returns the index after the first close that is not inside a string, from i.
func skipTo(s string, i int, close byte) int {
	for j := i + 1; j < len(s); {
		switch s[j] {
		case '"', '\'', '`':
			j = skipString(s, j)
		case close:
			return j + 1
		default:
			j++
		}
	}
	return len(s)
}

// skipNumber returns the index after the number or duration starting at i (0.99, 1e-3,
// 0x1f, 5m, 1h30m).
func skipNumber(s string, i int) int {
	j := i
	for j < len(s) {
		c := s[j]
		switch {
		case isIdent(c) || c == '.':
			j++
		case (c == '-' || c == '+') && (s[j-1] == 'e' || s[j-1] == 'E'):
			j++
		default:
			return j
		}
	}
	return j
}

// splitMatchers splits the inside of a matcher block at the commas outside strings.
func splitMatchers(s string) []string {
	var parts []string
	start := 0
	for j := 0; j < len(s); {
		switch s[j] {
		case '"', '\'', '`':
			j = skipString(s, j)
		case ',':
			parts = append(parts, s[start:j])
			j++
			start = j
		default:
			j++
		}
	}
	return append(parts, s[start:])
}

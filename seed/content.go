package seed

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/palimpsest-cms/palimpsest/domain"
)

// Word banks for the placeholder content. Everything is drawn from a
// per-post math/rand/v2 generator, so a seed always yields the same text.
var (
	topics = []string{
		"event sourcing", "PostgreSQL indexes", "Go generics", "sourdough baking", "trail running",
		"home espresso", "urban gardening", "type systems", "distributed tracing", "watercolor painting",
		"bird watching", "mechanical keyboards", "static site generators", "container networking",
		"slow travel", "fermentation", "code review", "technical writing", "bicycle maintenance",
		"database migrations", "structured logging", "feature flags", "woodworking", "film photography",
		"rate limiting", "full-text search", "remote work", "open source maintenance", "houseplants",
		"chess openings", "API design", "observability", "caching strategies", "vegetable stock",
	}
	titleTemplates = []string{
		"A practical guide to %s", "Why %s matters more than you think", "%s: lessons from a year in production",
		"Getting started with %s", "Ten things I learned about %s", "The hidden costs of %s",
		"%s without the hype", "Notes on %s", "How we rebuilt our approach to %s", "A weekend with %s",
		"What nobody tells you about %s", "%s, revisited", "Five mistakes to avoid with %s",
		"The quiet joy of %s", "Rethinking %s from first principles",
	}
	headings = []string{
		"Background", "Why it matters", "The first attempt", "What went wrong", "A better way",
		"Trade-offs", "Measuring the result", "Common pitfalls", "Tools we use", "Further reading",
		"Lessons learned", "Where to go next", "A worked example", "The details", "Wrapping up",
	}
	adjectives = []string{
		"surprising", "subtle", "boring", "essential", "fragile", "elegant", "expensive", "forgotten",
		"practical", "messy", "reliable", "tiny", "unexpected", "careful", "patient", "clumsy", "honest",
	}
	nouns = []string{
		"habit", "trade-off", "checklist", "deadline", "prototype", "experiment", "routine", "mistake",
		"constraint", "default", "workflow", "schedule", "measurement", "assumption", "shortcut",
		"detail", "pattern", "budget", "question", "notebook",
	}
	verbs = []string{
		"changes", "hides", "reveals", "simplifies", "breaks", "improves", "shapes", "complicates",
		"rewards", "punishes", "explains", "replaces", "survives", "outlasts", "amplifies",
	}
	sentenceTemplates = []string{
		"The %[1]s part of %[5]s is how it %[3]s every %[2]s.",
		"Most people start with a %[1]s %[2]s and only later notice what it %[3]s.",
		"In practice, %[5]s %[3]s the %[2]s you thought you understood.",
		"I kept a %[4]s for a month, and the %[1]s pattern was hard to miss.",
		"Nobody warned me that a single %[2]s %[3]s so much.",
		"If you remember one thing, let it be this: the %[2]s is never as %[1]s as it looks.",
		"We measured it twice, and the %[1]s %[2]s still %[3]s the outcome.",
		"There is a %[1]s lesson here about %[5]s and the %[4]s behind it.",
		"It took three tries before the %[2]s stopped being %[1]s.",
		"Good %[5]s is mostly a %[1]s %[2]s repeated every day.",
		"The documentation mentions it once, in a %[1]s footnote about the %[2]s.",
		"Our first %[4]s %[3]s the whole plan, which was %[1]s but useful.",
	}
	listItems = []string{
		"write down the %[1]s %[2]s before you start",
		"keep the %[2]s small and %[1]s",
		"measure before and after every change",
		"ask what the %[2]s %[3]s",
		"read the %[1]s parts of the manual twice",
		"plan for the %[1]s case, not the average one",
		"review the %[2]s with someone else",
		"automate the %[1]s steps",
		"delete the %[2]s you no longer need",
		"schedule a %[1]s check every week",
	}
	codeSnippets = []string{
		"```go\nfunc main() {\n\tctx := context.Background()\n\tif err := run(ctx); err != nil {\n\t\tlog.Fatal(err)\n\t}\n}\n```",
		"```sql\nSELECT id, title, published_at\nFROM posts\nWHERE status = 'published'\nORDER BY published_at DESC\nLIMIT 20;\n```",
		"```bash\n$ cms migrate\n$ cms seed --posts 100\n$ cms serve\n```",
		"```go\nfor _, item := range items {\n\tif item.Done {\n\t\tcontinue\n\t}\n\ttotal += item.Cost\n}\n```",
		"```json\n{\"title\": \"Hello\", \"tags\": [\"notes\", \"drafts\"]}\n```",
		"```python\nfor line in open(\"notes.txt\"):\n    print(line.strip())\n```",
	}
	tagPool = []string{
		"go", "postgres", "event-sourcing", "cooking", "running", "coffee", "gardening", "design",
		"observability", "writing", "cycling", "photography", "databases", "travel", "tools",
		"open-source", "architecture", "testing", "performance", "notes",
	}
)

// article is a post's content as blocks of Markdown, so edits can change
// one block at a time.
type article struct {
	title  string
	topic  string
	blocks []string
	tags   []string
}

func pick[T any](rng *rand.Rand, xs []T) T { return xs[rng.IntN(len(xs))] }

func sentence(rng *rand.Rand, topic string) string {
	return fmt.Sprintf(pick(rng, sentenceTemplates), pick(rng, adjectives), pick(rng, nouns), pick(rng, verbs), pick(rng, nouns), topic)
}

func paragraph(rng *rand.Rand, topic string) string {
	n := 3 + rng.IntN(4)
	s := make([]string, n)
	for i := range s {
		s[i] = sentence(rng, topic)
	}
	if rng.IntN(4) == 0 {
		slug := domain.Slugify(topic)
		s[rng.IntN(n)] += fmt.Sprintf(" See [the notes on %s](https://example.com/notes/%s) for more.", topic, slug)
	}
	return strings.Join(s, " ")
}

func list(rng *rand.Rand) string {
	n := 3 + rng.IntN(4)
	ordered := rng.IntN(3) == 0
	var b strings.Builder
	for i := range n {
		item := fmt.Sprintf(pick(rng, listItems), pick(rng, adjectives), pick(rng, nouns), pick(rng, verbs))
		if ordered {
			fmt.Fprintf(&b, "%d. %s\n", i+1, upperFirst(item))
		} else {
			fmt.Fprintf(&b, "- %s\n", upperFirst(item))
		}
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// newArticle generates a post of roughly 1 to 3 KB of Markdown.
func newArticle(rng *rand.Rand) *article {
	topic := pick(rng, topics)
	a := &article{topic: topic, title: upperFirst(fmt.Sprintf(pick(rng, titleTemplates), topic))}
	a.blocks = append(a.blocks, paragraph(rng, topic))
	target := 1000 + rng.IntN(2000)
	for a.size() < target {
		a.blocks = append(a.blocks, "## "+pick(rng, headings))
		a.blocks = append(a.blocks, paragraph(rng, topic))
		switch rng.IntN(4) {
		case 0:
			a.blocks = append(a.blocks, list(rng))
		case 1:
			a.blocks = append(a.blocks, pick(rng, codeSnippets))
		case 2:
			a.blocks = append(a.blocks, "> "+sentence(rng, topic))
		}
	}
	n := 1 + rng.IntN(4)
	for len(a.tags) < n {
		if t := pick(rng, tagPool); !slices.Contains(a.tags, t) {
			a.tags = append(a.tags, t)
		}
	}
	return a
}

func (a *article) size() int {
	n := 0
	for _, b := range a.blocks {
		n += len(b) + 2
	}
	return n
}

// content renders the article as post content; the excerpt is the first
// sentence of the first paragraph.
func (a *article) content() domain.PostContent {
	excerpt := a.blocks[0]
	if i := strings.Index(excerpt, ". "); i > 0 {
		excerpt = excerpt[:i+1]
	}
	return domain.PostContent{
		Title:   a.title,
		Body:    "# " + a.title + "\n\n" + strings.Join(a.blocks, "\n\n") + "\n",
		Excerpt: excerpt,
		Tags:    append([]string(nil), a.tags...),
	}
}

// edit changes the article a little, as a writer's revision would, and
// returns an edit note. The body always changes.
func (a *article) edit(rng *rand.Rand) string {
	var note string
	paras := a.paragraphs()
	switch op := rng.IntN(10); {
	case op < 4 && len(paras) > 0: // reword one sentence
		i := pick(rng, paras)
		s := strings.SplitAfter(a.blocks[i], ". ")
		s[rng.IntN(len(s))] = sentence(rng, a.topic) + " "
		a.blocks[i] = strings.TrimSpace(strings.Join(s, ""))
		note = "Reworded a sentence"
	case op < 6 || a.size() < 900: // add a paragraph
		i := 1 + rng.IntN(len(a.blocks))
		a.blocks = append(a.blocks[:i], append([]string{paragraph(rng, a.topic)}, a.blocks[i:]...)...)
		note = "Added a paragraph"
	case op < 7 && len(a.blocks) > 4: // remove a block (never the first)
		i := 1 + rng.IntN(len(a.blocks)-1)
		a.blocks = append(a.blocks[:i], a.blocks[i+1:]...)
		note = "Removed a section that did not add much"
	case op < 8: // add a list
		i := 1 + rng.IntN(len(a.blocks))
		a.blocks = append(a.blocks[:i], append([]string{list(rng)}, a.blocks[i:]...)...)
		note = "Added a checklist"
	default: // swap a word
		i := pick(rng, append(paras, 0))
		old, repl := pick(rng, adjectives), pick(rng, adjectives)
		if strings.Contains(a.blocks[i], old) && old != repl {
			a.blocks[i] = strings.Replace(a.blocks[i], old, repl, 1)
		} else {
			a.blocks[i] += " " + sentence(rng, a.topic)
		}
		note = "Tightened the wording"
	}
	// Keep the body around 1 to 3 KB.
	for a.size() > 3500 && len(a.blocks) > 2 {
		i := 1 + rng.IntN(len(a.blocks)-1)
		a.blocks = append(a.blocks[:i], a.blocks[i+1:]...)
	}
	switch rng.IntN(20) {
	case 0:
		if t := pick(rng, tagPool); !slices.Contains(a.tags, t) && len(a.tags) < 6 {
			a.tags = append(a.tags, t)
			note += "; tagged " + t
		}
	case 1:
		if len(a.tags) > 1 {
			a.tags = a.tags[:len(a.tags)-1]
		}
	case 2:
		a.title = upperFirst(fmt.Sprintf(pick(rng, titleTemplates), a.topic))
		note += "; new title"
	}
	if rng.IntN(3) == 0 {
		return ""
	}
	return note
}

// paragraphs returns the indexes of the prose blocks.
func (a *article) paragraphs() []int {
	var out []int
	for i, b := range a.blocks {
		if !strings.HasPrefix(b, "#") && !strings.HasPrefix(b, "```") && !strings.HasPrefix(b, "- ") &&
			!strings.HasPrefix(b, "1. ") && !strings.HasPrefix(b, "> ") {
			out = append(out, i)
		}
	}
	return out
}

func upperFirst(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	return string(unicode.ToUpper(r)) + s[n:]
}
